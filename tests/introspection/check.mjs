// Checks that a running Dunder describes, through introspection, the same
// schema as schema.graphql: it posts the standard introspection query of
// graphql-js 16 (every option on), builds a client schema from the answer,
// builds a schema from the SDL file, and compares their types, fields and
// arguments (names and type references), root types and custom directives.
//
//   node tests/introspection/check.mjs http://127.0.0.1:9000/graphql schema.graphql
//   node tests/introspection/check.mjs --print-query   # the query text
//
// It also checks that query.graphql, which the Rust tests embed, is that
// very query. Exits 1 naming every difference, else prints one line.

import { readFile } from "node:fs/promises";
import {
  buildClientSchema,
  buildSchema,
  getIntrospectionQuery,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  isSpecifiedDirective,
  isUnionType,
} from "graphql";

const OPTIONS = {
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
  oneOf: true,
};
const QUERY = getIntrospectionQuery(OPTIONS);
const QUERY_FILE = new URL("./query.graphql", import.meta.url);

function fail(message) {
  console.error(`introspection check failed: ${message}`);
  process.exit(1);
}

/** A comparable description of every named type that is not introspection's own. */
function describe(schema) {
  const types = new Map();
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith("__")) continue;
    const entry = { kind: type.constructor.name, members: new Map() };
    if (isObjectType(type) || isInterfaceType(type)) {
      for (const field of Object.values(type.getFields())) {
        const args = field.args.map((arg) => `${arg.name}: ${arg.type}`).join(", ");
        entry.members.set(field.name, `(${args}): ${field.type}`);
      }
      for (const iface of type.getInterfaces()) {
        entry.members.set(`implements ${iface.name}`, "");
      }
    } else if (isInputObjectType(type)) {
      for (const field of Object.values(type.getFields())) {
        entry.members.set(field.name, `${field.type}`);
      }
    } else if (isEnumType(type)) {
      for (const value of type.getValues()) entry.members.set(value.name, "");
    } else if (isUnionType(type)) {
      for (const member of type.getTypes()) entry.members.set(`| ${member.name}`, "");
    }
    types.set(type.name, entry);
  }
  const roots = ["Query", "Mutation", "Subscription"].map((operation) => {
    const root = schema[`get${operation}Type`]();
    return `${operation.toLowerCase()}: ${root ? root.name : "none"}`;
  });
  const directives = schema
    .getDirectives()
    .filter((directive) => !isSpecifiedDirective(directive))
    .map((directive) => {
      const args = directive.args.map((arg) => `${arg.name}: ${arg.type}`).join(", ");
      return `@${directive.name}(${args}) on ${directive.locations.join(" | ")}`;
    })
    .sort();
  return { types, roots, directives };
}

/** Every difference between the served schema and the file's. */
function compare(served, file) {
  const differences = [];
  const scalarsOnlyOneSide = new Set(["String", "Int", "Float", "Boolean", "ID"]);
  for (const [name, mine] of file.types) {
    const theirs = served.types.get(name);
    if (!theirs) {
      differences.push(`type ${name} is in the file but not served`);
      continue;
    }
    if (mine.kind !== theirs.kind) {
      differences.push(`type ${name} is a ${theirs.kind} served, a ${mine.kind} in the file`);
    }
    for (const [member, signature] of mine.members) {
      if (!theirs.members.has(member)) {
        differences.push(`${name}.${member} is in the file but not served`);
      } else if (theirs.members.get(member) !== signature) {
        differences.push(
          `${name}.${member} is ${theirs.members.get(member)} served, ${signature} in the file`,
        );
      }
    }
    for (const member of theirs.members.keys()) {
      if (!mine.members.has(member)) differences.push(`${name}.${member} is served but not in the file`);
    }
  }
  for (const name of served.types.keys()) {
    // The built-in scalars are listed by some servers whether used or not.
    if (!file.types.has(name) && !scalarsOnlyOneSide.has(name)) {
      differences.push(`type ${name} is served but not in the file`);
    }
  }
  if (served.roots.join(", ") !== file.roots.join(", ")) {
    differences.push(`root types are ${served.roots.join(", ")} served, ${file.roots.join(", ")} in the file`);
  }
  if (served.directives.join("; ") !== file.directives.join("; ")) {
    differences.push(
      `custom directives are [${served.directives.join("; ")}] served, [${file.directives.join("; ")}] in the file`,
    );
  }
  return differences;
}

async function main() {
  const [url, sdlPath] = process.argv.slice(2);
  if (url === "--print-query") {
    process.stdout.write(QUERY);
    return;
  }
  if (!url || !sdlPath) {
    fail("usage: node check.mjs <graphql-url> <schema.graphql path> (or --print-query)");
  }
  const embedded = await readFile(QUERY_FILE, "utf8");
  if (embedded !== QUERY) {
    fail(
      "tests/introspection/query.graphql is not graphql-js's introspection query; " +
        "regenerate it with: node tests/introspection/check.mjs --print-query > tests/introspection/query.graphql",
    );
  }

  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/graphql-response+json, application/json",
      },
      body: JSON.stringify({ query: QUERY }),
    });
  } catch (error) {
    fail(`POST ${url}: ${error.cause?.message ?? error.message}`);
  }
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    fail(`POST ${url} answered ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`);
  }
  if (response.status !== 200 || body.errors) {
    fail(`the introspection query was refused (${response.status}): ${JSON.stringify(body.errors ?? body)}`);
  }

  let served;
  let file;
  try {
    served = describe(buildClientSchema(body.data));
  } catch (error) {
    fail(`the introspection answer does not build a schema: ${error.message}`);
  }
  try {
    file = describe(buildSchema(await readFile(sdlPath, "utf8")));
  } catch (error) {
    fail(`${sdlPath} does not build a schema: ${error.message}`);
  }
  const differences = compare(served, file);
  if (differences.length > 0) {
    fail(`${url} and ${sdlPath} differ:\n  ${differences.join("\n  ")}`);
  }
  const fields = [...file.types.values()].reduce((sum, type) => sum + type.members.size, 0);
  console.log(
    `introspection check: ${url} serves the schema of ${sdlPath} (${file.types.size} types, ${fields} fields and members)`,
  );
}

await main();
