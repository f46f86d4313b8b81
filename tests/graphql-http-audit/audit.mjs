// Runs graphql-http's server audits (the GraphQL-over-HTTP specification's
// MUST, SHOULD and MAY rules) against the URL given, prints each result, and
// exits non-zero unless every audit passes: the recorded state is all of
// them ok (61 with the pinned graphql-http), so any MUST failure, SHOULD
// warning or MAY notice is a regression.
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
console.log(
  `graphql-http audits: ${counts.ok} ok, ${counts.notice} MAY notices, ${counts.warn} SHOULD warnings, ${counts.error} MUST failures`,
);
// The audits the pinned graphql-http runs; fewer would mean some did not.
const RECORDED = 61;
const regressions = counts.error + counts.warn + counts.notice;
if (counts.ok < RECORDED) {
  console.error(`only ${counts.ok} audits passed; ${RECORDED} did when this was recorded`);
}
process.exit(regressions === 0 && counts.ok >= RECORDED ? 0 : 1);
