import addressparser from 'nodemailer/lib/addressparser';

/**
 * One mailbox, nothing else: the only shape of address herald stores for a user or sends to.
 *
 * An address reaches the `To:` header and the SMTP envelope, where a comma or semicolon list, a
 * group (`list: a@x, b@y;`), a display name wrapping another address (`me@x <victim@y>`) or a
 * CR/LF followed by `Bcc:` each mean more or other recipients than the one the user named.
 * - The text must be a dot-atom addr-spec of RFC 5322 §3.4.1 within RFC 5321 §4.5.3.1's limits
 *   (local part ≤ 64, address ≤ 254). Quoted local parts (`"a,b"@x`), comments and address
 *   literals are refused although RFC 5322 allows them: they are where lists and header tricks
 *   hide, and real mailboxes do not need them. Internationalised addresses (RFC 6531) are
 *   refused too; domains may be given in punycode.
 * - As a second opinion from the code that reads the header when the mail is sent, nodemailer's
 *   address parser must see exactly one plain address (no name, no group) equal to the text, so
 *   a gap between this pattern and the sender's parsing cannot add a recipient.
 */
const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const ADDR_SPEC = new RegExp(`^${ATEXT}(?:\\.${ATEXT})*@${LABEL}(?:\\.${LABEL})+$`);

export const MAX_EMAIL_LENGTH = 254;

export function isSingleMailbox(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > MAX_EMAIL_LENGTH || !ADDR_SPEC.test(value)) return false;
  if (value.indexOf('@') > 64) return false;
  const parsed = addressparser(value);
  if (parsed.length !== 1) return false;
  const only = parsed[0]!;
  return !('group' in only) && only.name === '' && only.address === value;
}
