/**
 * 4 for an IPv4 address, 6 for an IPv6 address (with an optional zone: fe80::1%eth0), 0 for
 * anything else: the answers of node:net's isIP (test/ip-family.test.ts holds the two to the same
 * answers). Config validation asks this of every address and name it reads, and node:net's
 * isIP cost a short command such as check-config a tenth of its run: loading node:net with its
 * streams, then compiling its IPv6 pattern on the first call.
 */
export function ipFamily(text: string): 0 | 4 | 6 {
  if (isIpv4(text, 0, text.length)) return 4;
  return isIpv6(text) ? 6 : 0;
}

const DOT = 46;
const COLON = 58;
const DIGIT_0 = 48;

/** Four decimal parts of 0 to 255, with no leading zero (isIP refuses 192.0.2.01). */
function isIpv4(text: string, start: number, end: number): boolean {
  let position = start;
  for (let part = 1; ; part++) {
    const partStart = position;
    let value = 0;
    while (position < end && position - partStart < 4) {
      const digit = text.charCodeAt(position) - DIGIT_0;
      if (digit < 0 || digit > 9) break;
      value = value * 10 + digit;
      position++;
    }
    const digits = position - partStart;
    if (digits === 0 || digits > 3 || value > 255) return false;
    if (digits > 1 && text.charCodeAt(partStart) === DIGIT_0) return false;
    if (part === 4) return position === end;
    if (text.charCodeAt(position) !== DOT || position >= end) return false;
    position++;
  }
}

/**
 * RFC 4291 §2.2 text: eight groups of one to four hex digits, or fewer with one `::` standing for
 * at least one zero group, the last two groups optionally written as an IPv4 address.
 */
function isIpv6(text: string): boolean {
  const percent = text.indexOf('%');
  const end = percent < 0 ? text.length : percent;
  if (percent >= 0 && !isZone(text, percent + 1)) return false;
  let groups = 0;
  let compressed = false;
  let position = 0;
  if (text.charCodeAt(0) === COLON) {
    if (text.charCodeAt(1) !== COLON) return false;
    compressed = true;
    position = 2;
    if (position === end) return true;
  }
  for (;;) {
    const groupStart = position;
    while (position < end && isHexDigit(text.charCodeAt(position))) position++;
    if (position < end && text.charCodeAt(position) === DOT) {
      if (!isIpv4(text, groupStart, end)) return false;
      groups += 2;
      break;
    }
    const digits = position - groupStart;
    if (digits === 0 || digits > 4) return false;
    groups++;
    if (position === end) break;
    if (text.charCodeAt(position) !== COLON) return false;
    position++;
    if (position < end && text.charCodeAt(position) === COLON) {
      if (compressed) return false;
      compressed = true;
      position++;
      if (position === end) break;
    } else if (position === end) {
      return false;
    }
  }
  return compressed ? groups <= 7 : groups === 8;
}

function isHexDigit(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 70) || (code >= 97 && code <= 102);
}

/** What isIP takes after `%`: one or more letters, digits, `-`, `.` or `:`. */
function isZone(text: string, start: number): boolean {
  if (start >= text.length) return false;
  for (let position = start; position < text.length; position++) {
    const code = text.charCodeAt(position);
    const allowed =
      (code >= 48 && code <= 58) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 45 || code === 46;
    if (!allowed) return false;
  }
  return true;
}
