import type { LiveFetch } from '../fetches/live-fetches.js';
import { markup, type Html } from './markup.js';
import { domainPath, layout, scrolling } from './page-parts.js';

/** The columns of the live table; the page's script fills the same cells, as text, for each new fetch. */
const LIVE_COLUMNS = ['Time (UTC)', 'Provider', 'Domain', 'Address', 'Method', 'Status', 'Policy id', 'User agent'];

/** A fetch's row; the user agent is whatever the client sent, so it is only ever text. */
function liveRow(fetch: LiveFetch): Html {
  const provider = fetch.claimed ? `${fetch.provider} (user agent claims another)` : fetch.provider;
  return markup`<tr><td>${fetch.at.slice(0, 19).replace('T', ' ')}</td><td>${provider}</td>
<td>${fetch.domain === null ? fetch.host : markup`<a href="${domainPath(fetch.domain)}">${fetch.domain}</a>`}</td>
<td>${fetch.ip}</td><td>${fetch.method}</td><td>${fetch.status}</td><td>${fetch.policy_id ?? '–'}</td><td class="user-agent">${fetch.user_agent}</td></tr>`;
}

/** The latest requests for the policy (as `who` lists them), newest first; new ones arrive by server-sent events. */
export function livePage(latest: readonly LiveFetch[]): string {
  const table = markup`<table id="live-fetches" data-source="/api/fetches/live">
<caption>Requests for the policy, newest first</caption>
<thead><tr>${LIVE_COLUMNS.map((name) => markup`<th scope="col">${name}</th>`)}</tr></thead>
<tbody>${[...latest].reverse().map(liveRow)}</tbody>
</table>`;
  return layout(
    'Live',
    'live',
    markup`<h1>Live fetches</h1>
<p id="live-status" role="status">Connecting…</p>
${scrolling('Live fetches', table)}`,
  );
}
