import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

/** A real SMTP server on a free port that keeps every message it accepts, parsed. */
export interface SmtpSink {
  readonly server: SMTPServer;
  readonly port: number;
  /** `smtp://127.0.0.1:<port>` for HERALD_SMTP_URL. */
  readonly url: string;
  readonly received: ParsedMail[];
  close(): Promise<void>;
}

/** Start one; `onRcptTo` can refuse or defer recipients (a greylisting server, say). */
export async function startSmtpSink(options: Pick<SMTPServerOptions, 'onRcptTo'> = {}): Promise<SmtpSink> {
  const received: ParsedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    ...options,
    onData(stream, _session, callback) {
      simpleParser(stream).then((mail) => {
        received.push(mail);
        callback();
      }, callback);
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `smtp://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
