// Runs graphql-http's server audits (the GraphQL-over-HTTP specification's
// MUST and SHOULD rules) against the URL given, prints each result, and
// exits non-zero when any MUST audit fails. SHOULD audits that fail are
// reported as warnings.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs http://127.0.0.1:9000/graphql');
  process.exit(2);
}

const audits = serverAudits({ url, fetchFn: fetch });
// Each result's status: ok, notice (a MAY not taken), warn (a SHOULD
// broken) or error (a MUST broken).
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
for (const audit of audits) {
  const result = await audit.fn();
  const mark = { ok: 'ok    ', notice: 'NOTICE', warn: 'WARN  ', error: 'FAIL  ' }[result.status] ?? result.status;
  console.log(`${mark} ${result.id} ${result.name}${result.status === 'ok' ? '' : `: ${result.reason}`}`);
  counts[result.status] = (counts[result.status] ?? 0) + 1;
}
const failed = counts.error;
console.log(
  `graphql-http audits: ${counts.ok} ok, ${counts.notice} MAY notices, ${counts.warn} SHOULD warnings, ${failed} MUST failures`,
);
process.exit(failed === 0 ? 0 : 1);
