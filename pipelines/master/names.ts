// Canonical directory/file names. A master tree may hold names that are not valid
// UTF-8 or contain control characters (newline!); Postgres text cannot store those
// bytes faithfully, so such bytes are written as rsync writes them in listings:
// `\#ooo` (three octal digits). The mapping is reversible (`nameToBytes`), so a
// stored name always leads back to the file on disk or on an rsync server.

/** Canonical text for raw name bytes: valid UTF-8 kept, control/invalid bytes as `\#ooo`. */
export function canonicalName(bytes: Uint8Array): string {
  let plain = true;
  for (const b of bytes) {
    if (b < 0x20 || b >= 0x7f || b === 0x5c) {
      plain = false;
      break;
    }
  }
  // Plain ASCII (nearly every name): latin1 decoding is the identity, and far cheaper than a spread.
  if (plain) return Buffer.isBuffer(bytes) ? bytes.toString('latin1') : String.fromCharCode(...bytes);
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) {
      // A literal backslash is escaped only where it would read as an escape.
      const escape = b < 0x20 || b === 0x7f || (b === 0x5c && bytes[i + 1] === 0x23);
      out += escape ? octal(b) : String.fromCharCode(b);
      i++;
      continue;
    }
    const len = utf8SequenceLength(bytes, i);
    if (len === 0) {
      out += octal(b);
      i++;
      continue;
    }
    const cp = Buffer.from(bytes.subarray(i, i + len)).toString('utf8');
    // C1 controls are as unprintable as C0 ones.
    const code = cp.codePointAt(0)!;
    out += code >= 0x80 && code < 0xa0 ? Array.from(bytes.subarray(i, i + len), octal).join('') : cp;
    i += len;
  }
  return out;
}

/** The raw bytes a canonical name stands for. */
export function nameToBytes(name: string): Buffer {
  if (!name.includes('\\#')) return Buffer.from(name, 'utf8');
  const parts: Buffer[] = [];
  let last = 0;
  for (const m of name.matchAll(/\\#([0-7]{3})/g)) {
    parts.push(Buffer.from(name.slice(last, m.index), 'utf8'), Buffer.from([parseInt(m[1]!, 8) & 0xff]));
    last = m.index + m[0].length;
  }
  parts.push(Buffer.from(name.slice(last), 'utf8'));
  return Buffer.concat(parts);
}

/** Undoes rsync's `\#ooo` escapes in a listing line (bytes in, bytes out). */
export function unescapeRsync(bytes: Uint8Array): Buffer {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x5c && bytes[i + 1] === 0x23 && isOct(bytes[i + 2]) && isOct(bytes[i + 3]) && isOct(bytes[i + 4])) {
      out.push(((bytes[i + 2]! - 48) * 64 + (bytes[i + 3]! - 48) * 8 + (bytes[i + 4]! - 48)) & 0xff);
      i += 4;
    } else {
      out.push(b);
    }
  }
  return Buffer.from(out);
}

const isOct = (b: number | undefined) => b !== undefined && b >= 48 && b <= 55;
const octal = (b: number) => '\\#' + b.toString(8).padStart(3, '0');

/** Length of the valid UTF-8 sequence at i, or 0 when the bytes there are not one. */
function utf8SequenceLength(bytes: Uint8Array, i: number): number {
  const b = bytes[i]!;
  let len: number;
  let min: number;
  if (b >= 0xc2 && b <= 0xdf) [len, min] = [2, 0x80];
  else if (b >= 0xe0 && b <= 0xef) [len, min] = [3, 0x800];
  else if (b >= 0xf0 && b <= 0xf4) [len, min] = [4, 0x10000];
  else return 0;
  if (i + len > bytes.length) return 0;
  let cp = b & (0xff >> (len + 1));
  for (let k = 1; k < len; k++) {
    const c = bytes[i + k]!;
    if ((c & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (c & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

/** Parent of a category-relative name ('' is the category top, which has none). */
export function parentName(name: string): string | null {
  if (name === '') return null;
  const i = name.lastIndexOf('/');
  return i < 0 ? '' : name.slice(0, i);
}

export function joinName(parent: string, child: string): string {
  return parent === '' ? child : `${parent}/${child}`;
}

export function baseName(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}
