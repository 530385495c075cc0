export { TopicService, topicView, type Topic, type TopicInput, type Page } from './service.ts';
