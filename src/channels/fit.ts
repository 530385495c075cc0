import type { DeliveryJob, NotificationContent } from './types.ts';
import { buildPayload, inferPushType, MAX_PAYLOAD_BYTES, MAX_VOIP_PAYLOAD_BYTES } from './apns/payload.ts';
import { buildFcmMessage } from './fcm/message.ts';
import { webPushPayload } from './webpush/message.ts';
import { MAX_PLAINTEXT_BYTES } from './webpush/encrypt.ts';

/**
 * Push payload limits, measured with each provider's own payload builder: APNs 4 KB (5 KB VoIP),
 * FCM 4 KB, and one 4096-byte Web Push record. Rendered template text can be any length; fitting
 * shortens the body — never the JSON around it — so a long rendering still arrives.
 */

// FCM: "the maximum payload for both message types is 4096 bytes"
// (https://firebase.google.com/docs/cloud-messaging/concept-options#notifications_and_data_messages).
// Measured on the message without its token, which FCM does not count.
export const FCM_MAX_PAYLOAD_BYTES = 4096;

const ELLIPSIS = '…';
const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * The longest prefix of `body` (whole graphemes, so no emoji or accent is split) plus an
 * ellipsis for which `fits` holds; `body` itself when it fits, undefined when not even an empty
 * body does (something else in the payload is too large, which the provider's builder reports).
 */
export function fitBody(body: string, fits: (body: string) => boolean): string | undefined {
  if (fits(body)) return body;
  if (!fits('')) return undefined;
  const graphemes = Array.from(segmenter.segment(body), (s) => s.segment);
  let low = 0;
  let high = graphemes.length - 1; // the whole body does not fit
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (fits(graphemes.slice(0, mid).join('').trimEnd() + ELLIPSIS)) low = mid;
    else high = mid - 1;
  }
  const cut = graphemes.slice(0, low).join('').trimEnd();
  return cut === '' ? (fits(ELLIPSIS) ? ELLIPSIS : '') : cut + ELLIPSIS;
}

function measure(job: DeliveryJob): ((content: NotificationContent) => boolean) | undefined {
  switch (job.provider) {
    case 'apns':
      return (content) => {
        const payload = buildPayload(content);
        const limit = inferPushType(content, payload) === 'voip' ? MAX_VOIP_PAYLOAD_BYTES : MAX_PAYLOAD_BYTES;
        return Buffer.byteLength(JSON.stringify(payload)) <= limit;
      };
    case 'fcm':
      return (content) => {
        const { token: _token, ...message } = buildFcmMessage({ ...job, content }, '', Date.now());
        return Buffer.byteLength(JSON.stringify(message)) <= FCM_MAX_PAYLOAD_BYTES;
      };
    case 'webpush':
      return (content) => webPushPayload({ ...job, content }).length <= MAX_PLAINTEXT_BYTES;
    default:
      return undefined;
  }
}

/** The job with its body shortened to fit its push provider's payload limit (other providers: as is). */
export function fitPushBody(job: DeliveryJob): DeliveryJob {
  const fits = measure(job);
  const body = job.content.body;
  if (!fits || body === undefined) return job;
  const fitted = fitBody(body, (candidate) => fits({ ...job.content, body: candidate }));
  return fitted === undefined || fitted === body ? job : { ...job, content: { ...job.content, body: fitted } };
}
