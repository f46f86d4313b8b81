// GraphQL over HTTP (`POST /graphql`), with the server's errors turned
// into one readable message.

/// A failed request: `message` is for people, `code` the server's
/// `extensions.code` when it gave one.
export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

/// Runs `query` with `variables`, as the bearer of `token` if given.
/// Resolves to `{ data, serverTime }` (the server's clock from the `Date`
/// header, in ms, or null); rejects with an ApiError.
export async function graphql(query, variables = {}, token = null) {
  const headers = { "Content-Type": "application/json", Accept: "application/graphql-response+json, application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  } catch {
    throw new ApiError("The server cannot be reached.", "NETWORK");
  }
  const text = await response.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: a proxy's page, say. Its status says enough.
  }
  if (body?.errors?.length) {
    const [first] = body.errors;
    const code = first.extensions?.code;
    throw new ApiError(describe(first.message, code, response), code);
  }
  if (!response.ok || !body?.data) {
    const message = body?.error ?? `the server answered ${response.status} ${response.statusText}`.trim();
    throw new ApiError(describe(message, null, response), `HTTP_${response.status}`);
  }
  const date = Date.parse(response.headers.get("Date") ?? "");
  return { data: body.data, serverTime: Number.isNaN(date) ? null : date };
}

/// The server's message, with what a person can do about it.
function describe(message, code, response) {
  const retry = response.headers.get("Retry-After");
  const sentence = message.charAt(0).toUpperCase() + message.slice(1);
  if (code === "UNAUTHENTICATED") return `${sentence} (check the user name or token).`;
  if (retry) return `${sentence} (try again in ${retry} s).`;
  return sentence.endsWith(".") ? sentence : `${sentence}.`;
}
