/**
 * Checks for the names a certificate carries: DNS names, IP addresses and the
 * agent names that become file names. Pure functions, no I/O.
 */

const IPV4_OCTET = "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const IPV4 = new RegExp(`^${IPV4_OCTET}(\\.${IPV4_OCTET}){3}$`);

/** True for a dotted-quad IPv4 address or an IPv6 address (no zone, no brackets). */
export function isIpAddress(text: string): boolean {
  if (IPV4.test(text)) return true;
  if (!text.includes(":") || !/^[0-9a-fA-F:.]+$/.test(text)) return false;
  try {
    new URL(`http://[${text}]/`);
    return true;
  } catch {
    return false;
  }
}

/**
 * True for a DNS name usable in a certificate SAN: labels of letters, digits
 * and hyphens (not at either end), at most 63 characters each, 253 in all; a
 * leading `*.` wildcard is allowed. An IP address is not a DNS name.
 */
export function isDnsName(text: string): boolean {
  if (text.length === 0 || text.length > 253 || isIpAddress(text)) return false;
  const labels = text.split(".");
  if (labels[0] === "*" && labels.length > 1) labels.shift();
  return labels.every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}

/**
 * True for an agent name: it becomes the certificate CN and the file names
 * `<name>.crt` / `<name>.key`, so only letters, digits, `.`, `_` and `-`,
 * starting with a letter or digit, at most 64 characters.
 */
export function isAgentName(text: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(text) && !text.includes("..");
}
