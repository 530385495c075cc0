export { TemplateService, type TemplateInput, type PreviewInput, type TemplateSummary } from './service.ts';
export { TemplateCache } from './cache.ts';
export { CompiledTemplate, escapeHtml, type Recipient, type RenderedChannel } from './render.ts';
export { pinTemplates, type PinMemo, type PinnedSend, type SendFields } from './pin.ts';
export { REMINDER_TEMPLATE, reminderData, renderBuiltInReminder } from './builtin.ts';
export type * from './types.ts';
