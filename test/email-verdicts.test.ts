/**
 * The e-mail verdict tables on their own: every SMTP error class nodemailer reports and every
 * SES v2 error SendEmail documents, mapped to sent/retry/failed (+ appProblem). The SMTP and SES
 * contract tests exercise the same functions through real servers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sesVerdict, smtpVerdict } from '../src/channels/email/index.ts';

const HOST = 'mail.example:587';

test('SMTP replies: 4yz retry, 5yz failed, 503 retry (RFC 5321 §4.2.1)', () => {
  const reply = (code: number, permanent?: boolean) => smtpVerdict({ code: 'EENVELOPE', responseCode: code, response: `${code} x`, command: 'RCPT TO', permanent }, HOST);
  assert.equal(reply(421).status, 'retry');
  assert.equal(reply(450).status, 'retry');
  assert.equal(reply(452).status, 'retry');
  assert.equal(reply(550).status, 'failed');
  assert.equal(reply(554).status, 'failed');
  assert.equal(reply(503, false).status, 'retry', "nodemailer's permanent flag wins");
  const rejected = reply(550);
  assert.equal(rejected.status === 'failed' ? rejected.appProblem : 'x', undefined);
});

test('SMTP authentication: failed with appProblem, 454 retried with appProblem', () => {
  const denied = smtpVerdict({ code: 'EAUTH', responseCode: 535, response: '535 5.7.8 Authentication credentials invalid' }, HOST);
  assert.equal(denied.status, 'failed');
  assert.match(denied.status === 'failed' ? denied.appProblem ?? '' : '', /SMTP login to mail\.example:587 failed: 535/);
  const temporary = smtpVerdict({ code: 'EAUTH', responseCode: 454, response: '454 4.7.0 Temporary authentication failure' }, HOST);
  assert.equal(temporary.status, 'retry');
  assert.ok(temporary.status === 'retry' && temporary.appProblem);
  const missing = smtpVerdict({ code: 'ENOAUTH', message: 'Missing credentials for "PLAIN"' }, HOST);
  assert.equal(missing.status, 'failed');
});

test('SMTP connection trouble is retried; local refusals and bad configuration fail', () => {
  for (const code of ['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'EPROXY']) {
    const v = smtpVerdict({ code, message: 'boom' }, HOST);
    assert.equal(v.status, 'retry', code);
    assert.equal(v.status === 'retry' ? v.appProblem : 'x', undefined, code);
  }
  const cert = smtpVerdict({ code: 'ESOCKET', originalCode: 'CERT_HAS_EXPIRED', message: 'certificate has expired' }, HOST);
  assert.equal(cert.status, 'retry');
  assert.ok(cert.status === 'retry' && cert.appProblem);
  assert.equal(smtpVerdict({ code: 'EENVELOPE', message: 'Invalid recipient "x"' }, HOST).status, 'failed');
  assert.equal(smtpVerdict({ code: 'EMESSAGE', message: 'Message size larger than allowed 1000' }, HOST).status, 'failed');
  const config = smtpVerdict({ code: 'ECONFIG', message: 'bad url' }, HOST);
  assert.ok(config.status === 'failed' && config.appProblem);
  assert.equal(smtpVerdict(new Error('something else'), HOST).status, 'retry');
  assert.equal(smtpVerdict('a string', HOST).status, 'retry');
});

function awsError(name: string, status: number | undefined, headers: Record<string, string> = {}): unknown {
  return Object.assign(new Error(`${name} message`), { name, ...(status ? { $metadata: { httpStatusCode: status } } : {}), $response: { headers } });
}

test('SES throttling and server errors are retried, with Retry-After', () => {
  const throttled = sesVerdict(awsError('TooManyRequestsException', 429, { 'retry-after': '3' }), 'eu-west-1');
  assert.deepEqual(throttled, { status: 'retry', error: 'SES throttled: TooManyRequestsException: TooManyRequestsException message', retryAfterMs: 3000 });
  assert.equal(sesVerdict(awsError('LimitExceededException', 400), 'eu-west-1').status, 'retry');
  assert.equal(sesVerdict(awsError('Unknown', 429), 'eu-west-1').status, 'retry');
  assert.equal(sesVerdict(awsError('InternalServiceErrorException', 500), 'eu-west-1').status, 'retry');
  assert.equal(sesVerdict(awsError('ServiceUnavailable', 503), 'eu-west-1').status, 'retry');
  const network = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  assert.equal(sesVerdict(network, 'eu-west-1').status, 'retry');
});

test('SES rejections fail; credential and account errors carry an appProblem', () => {
  const rejected = sesVerdict(awsError('MessageRejected', 400), 'eu-west-1');
  assert.equal(rejected.status, 'failed');
  assert.equal(rejected.status === 'failed' ? rejected.appProblem : 'x', undefined);
  assert.equal(sesVerdict(awsError('BadRequestException', 400), 'eu-west-1').status, 'failed');
  for (const name of ['AccessDeniedException', 'UnrecognizedClientException', 'InvalidSignatureException', 'ExpiredTokenException', 'CredentialsProviderError',
    'AccountSuspendedException', 'SendingPausedException', 'MailFromDomainNotVerifiedException', 'NotFoundException']) {
    const v = sesVerdict(awsError(name, name === 'CredentialsProviderError' ? undefined : 400), 'eu-west-1');
    assert.equal(v.status, 'failed', name);
    assert.match(v.status === 'failed' ? v.appProblem ?? '' : '', /SES \(eu-west-1\)/, name);
  }
  const forbidden = sesVerdict(awsError('SomethingNew', 403), 'eu-west-1');
  assert.ok(forbidden.status === 'failed' && forbidden.appProblem);
});
