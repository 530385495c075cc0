export { RateLimiter, type LimitRule, type LimitDecision } from './rate-limiter.ts';
