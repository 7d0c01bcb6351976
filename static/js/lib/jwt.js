// Reading (not trusting) the parts of a compact JWS.

export function b64urlToBytes(text) {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*={0,2}$/.test(text)) {
    throw new Error('not base64url');
  }
  const b64 = text.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
  if (b64.length % 4 === 1) throw new Error('bad base64url length');
  const binary = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function bytesToB64url(bytes) {
  let binary = '';
  bytes.forEach((b) => { binary += String.fromCharCode(b); });
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_');
}

/** The JSON object in one part, or null when it is not one. */
export function jsonPart(part) {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(b64urlToBytes(part));
    const value = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

/** The claims of a token, unverified: for showing the holder's own token only. */
export function claimsOf(token) {
  const parts = String(token || '').split('.');
  return parts.length === 3 ? jsonPart(parts[1]) : null;
}
