const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * Text made safe inside HTML, both as element content and as a quoted attribute value: every
 * value a page interpolates (domain names, user agents, messages from DNS or SMTP servers) goes
 * through here, so no outside text becomes markup.
 */
export function escapeHtml(text: string | number): string {
  return String(text).replace(/[&<>"']/g, (character) => HTML_ESCAPES[character]!);
}
