import type { CheckStatus } from '../health/check-result.js';
import { markup, type Html } from './markup.js';

/** The paths the pages and the API answer on; the static assets are served from the package, never a CDN. */
export const ASSET_CSS = '/assets/dashboard.css';
export const ASSET_JS = '/assets/dashboard.js';

export const domainPath = (domain: string) => `/domains/${encodeURIComponent(domain)}`;

/**
 * A whole page: no inline script or style (the Content-Security-Policy allows neither), readable
 * on a phone; an empty icon, so a browser asks for no /favicon.ico.
 */
export function layout(title: string, current: 'overview' | 'live' | 'domain', body: Html): string {
  const link = (href: string, label: string, active: boolean) =>
    markup`<a href="${href}"${active ? markup` aria-current="page"` : ''}>${label}</a>`;
  return markup`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · mta-sts-server</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${ASSET_CSS}">
<script src="${ASSET_JS}" defer></script>
</head>
<body>
<header><nav aria-label="Dashboard">
<span class="brand">mta-sts-server</span>
${link('/', 'Overview', current === 'overview')}
${link('/live', 'Live', current === 'live')}
</nav></header>
<main id="main">
${body}
</main>
</body>
</html>
`.markup;
}

/**
 * A status as a word, with a symbol (the stylesheet adds it, hidden from screen readers) and a
 * colour from Okabe and Ito's palette: still told apart by the word without colour.
 */
type Shade = CheckStatus | 'none';

export function statusLabel(shade: Shade, text: string): Html {
  return markup`<span class="status status-${shade}">${text}</span>`;
}

/** "2026-11-29 09:12 UTC", or a dash. */
export const moment = (iso: string | null | undefined) => (iso ? `${iso.slice(0, 16).replace('T', ' ')} UTC` : '–');

/** A table that scrolls sideways on a narrow screen instead of the page. */
export const scrolling = (caption: string, table: Html) =>
  markup`<div class="table-scroll" role="region" aria-label="${caption}" tabindex="0">${table}</div>`;
