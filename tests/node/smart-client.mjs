// A SMART app driven by the real npm `fhirclient` (client-js 2.6.3) in Node, for tests/auth/test_npm_fhirclient.py.
//
// Specs: SMART App Launch 2.2 (https://hl7.org/fhir/smart-app-launch/app-launch.html), asymmetric client auth
// (https://hl7.org/fhir/smart-app-launch/client-confidential-asymmetric.html), symmetric client auth
// (https://hl7.org/fhir/smart-app-launch/client-confidential-symmetric.html).
// Library API: http://docs.smarthealthit.org/client-js/api.html (`smart(req, res, storage).authorize()`, `ready()`).
//
// Usage: node smart-client.mjs <public|secret|jwk> <standalone|ehr>
// stdin, line 1: the configuration as JSON:
//   {"launchUrl": "http://127.0.0.1:9/launch?iss=…&launch=…",   // the URL the app was opened at (EHR: iss + launch)
//    "iss": "<FHIR base>" (standalone), "clientId", "scope", "redirectUri",
//    "clientSecret"? (mode secret), "clientPrivateJwk"? (mode jwk, with alg RS384 or ES384 and kid),
//    "refreshTokenWithClientId"? (adds client_id to refresh requests; client-js leaves it out by default),
//    "actions": [{"name", "op": "request" | "patient.read" | "user.read" | "create" | "refresh",
//                 "url"? (request), "resource"? (create)}]}
// stdout, one JSON object per line:
//   {"event": "authorize", "url": …}                        then the test plays the browser and writes
// stdin, line 2: the redirect URL the authorization server sent the browser to (code + state);
//   {"event": "ready", "patient", "encounter", "scope", "fhirUser", "hasRefreshToken", "idToken"}
//   {"event": "result", "name", "ok", "status", "body"}     one per action (HTTP errors are results, not failures)
//   {"event": "done"}
// Any other failure (discovery, token exchange, refresh, bad input): {"event": "error", "message"} on stdout, the
// message on stderr, exit code 1.

import readline from "node:readline";
import smart from "fhirclient";

const AUTH_MODES = new Set(["public", "secret", "jwk"]);
const LAUNCH_MODES = new Set(["standalone", "ehr"]);

function emit(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

/** The minimal IncomingMessage the NodeAdapter reads: host header, url (path + query), socket.encrypted. */
function fakeRequest(absoluteUrl) {
  const url = new URL(absoluteUrl);
  return { headers: { host: url.host }, url: url.pathname + url.search, socket: { encrypted: url.protocol === "https:" } };
}

/** The response is only used to redirect, which `noRedirect: true` avoids. */
const fakeResponse = {
  writeHead() { throw new Error("unexpected redirect"); },
  end() {},
};

/** In-memory storage shared by the authorize and ready steps of this process. */
function memoryStorage() {
  const data = new Map();
  return {
    async get(key) { return data.get(key); },
    async set(key, value) { data.set(key, value); return value; },
    async unset(key) { return data.delete(key); },
  };
}

function authorizeOptions(authMode, launchMode, config) {
  const options = {
    clientId: config.clientId,
    scope: config.scope,
    redirectUri: config.redirectUri,
    pkceMode: "required",
    noRedirect: true,
  };
  if (launchMode === "standalone") {
    options.iss = config.iss;  // EHR launch: iss and launch come from the launch URL's query
  }
  if (authMode === "secret") {
    if (!config.clientSecret) throw new Error("mode secret needs clientSecret");
    options.clientSecret = config.clientSecret;
  } else if (authMode === "jwk") {
    if (!config.clientPrivateJwk) throw new Error("mode jwk needs clientPrivateJwk");
    options.clientPrivateJwk = config.clientPrivateJwk;
  }
  return options;
}

/** An HTTP error of the FHIR API as a result: client-js already read the body into the message (`HttpError.parse`). */
function httpErrorResult(name, error) {
  const status = error.status ?? null;
  if (status === null) throw error;
  const cut = error.message.indexOf("\n\n");
  let body = null;
  try {
    body = cut >= 0 ? JSON.parse(error.message.slice(cut + 2)) : null;
  } catch {
    body = null;
  }
  return { event: "result", name, ok: false, status, body };
}

async function runAction(client, action) {
  const name = action.name ?? action.op;
  try {
    switch (action.op) {
      case "request": {
        const { body, response } = await client.request({ url: action.url, includeResponse: true });
        return { event: "result", name, ok: true, status: response.status, body };
      }
      case "patient.read":
        return { event: "result", name, ok: true, status: 200, body: await client.patient.read() };
      case "user.read":
        return { event: "result", name, ok: true, status: 200, body: await client.user.read() };
      case "create": {
        const { body, response } = await client.create(action.resource, { includeResponse: true });
        return { event: "result", name, ok: true, status: response.status, body };
      }
      case "refresh": {
        const before = client.state.tokenResponse.access_token;
        const state = await client.refresh();
        const token = state.tokenResponse;
        return { event: "result", name, ok: true, status: 200,
                 body: { scope: token.scope, patient: token.patient ?? null,
                         newAccessToken: token.access_token !== before, hasRefreshToken: Boolean(token.refresh_token) } };
      }
      default:
        throw new Error(`unknown action op ${JSON.stringify(action.op)}`);
    }
  } catch (error) {
    if (action.op === "refresh") throw error;  // a failed refresh is a failure of the run
    return httpErrorResult(name, error);
  }
}

async function main() {
  const [authMode, launchMode] = process.argv.slice(2);
  if (!AUTH_MODES.has(authMode) || !LAUNCH_MODES.has(launchMode)) {
    throw new Error("usage: node smart-client.mjs <public|secret|jwk> <standalone|ehr>");
  }
  const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Error("no configuration line on stdin");
  const config = JSON.parse(first.value);
  const storage = memoryStorage();

  const launcher = smart(fakeRequest(config.launchUrl), fakeResponse, storage);
  const url = await launcher.authorize(authorizeOptions(authMode, launchMode, config));
  emit({ event: "authorize", url });

  const second = await lines.next();
  if (second.done) throw new Error("no callback URL on stdin");
  const redirectHandler = smart(fakeRequest(second.value.trim()), fakeResponse, storage);
  // client-js sends client_id on a refresh only with this adapter option (off by default)
  redirectHandler.options.refreshTokenWithClientId = Boolean(config.refreshTokenWithClientId);
  const client = await redirectHandler.ready();
  const token = client.state.tokenResponse;
  emit({ event: "ready", patient: client.getPatientId(), encounter: client.getEncounterId(), scope: token.scope,
         fhirUser: client.getFhirUser(), hasRefreshToken: Boolean(token.refresh_token), idToken: client.getIdToken() });

  for (const action of config.actions ?? []) {
    emit(await runAction(client, action));
  }
  emit({ event: "done" });
}

main().then(
  () => process.exit(0),
  (error) => {
    const message = error && error.message ? error.message : String(error);
    emit({ event: "error", message });
    process.stderr.write(message + "\n");
    process.exit(1);
  },
);
