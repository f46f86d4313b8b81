// Starts GraphiQL on this page. A file of its own rather than an inline
// script, so that the page's Content-Security-Policy can say
// `script-src 'self'` and nothing more.
(function () {
  "use strict";
  // The endpoints are the page's (same origin): HTTP for queries and
  // mutations, the WebSocket for subscriptions.
  var root = document.getElementById("graphiql");
  var url = new URL(root.dataset.url, window.location.origin).toString();
  var subscriptionUrl = new URL(root.dataset.subscriptionUrl, window.location.origin);
  subscriptionUrl.protocol = subscriptionUrl.protocol === "https:" ? "wss:" : "ws:";
  // The headers editor's entries go to HTTP requests as headers and, for a
  // subscription, into the connection_init payload, which is where
  // /graphql/ws reads its token.
  var fetcher = GraphiQL.createFetcher({
    url: url,
    subscriptionUrl: subscriptionUrl.toString(),
  });
  var defaultQuery =
    '# Post with the header {"Authorization": "Bearer <base64 of your name>"}\n' +
    "# (headers editor below). Subscriptions run over /graphql/ws, e.g.\n" +
    "# subscription { messagePosted { id text user { name } } }\n" +
    "{\n" +
    "  messages(first: 10) {\n" +
    "    edges { node { id text hashtags user { name } createdAt } }\n" +
    "    pageInfo { hasNextPage endCursor }\n" +
    "  }\n" +
    "}\n";
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      defaultQuery: defaultQuery,
    }),
  );
})();
