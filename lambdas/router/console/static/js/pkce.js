// Cognito hosted UI sign-in with the authorization-code grant and PKCE (RFC 7636, S256).
// The code verifier and the state never leave this browser tab (sessionStorage); the code
// that comes back in the URL is useless without the verifier, and no client secret exists.

const PENDING = "motherfluxer.pkce";

function base64url(bytes) {
  let text = "";
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomToken(size) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

export async function challengeOf(verifier) {
  return base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
}

// "xyz.auth.<region>.amazoncognito.com" means https; a full origin is used as given.
export function hostedOrigin(cognito) {
  const domain = cognito.domain.replace(/\/+$/, "");
  return /^https?:\/\//.test(domain) ? domain : `https://${domain}`;
}

function redirectUri() {
  return location.origin + location.pathname;
}

export async function startHostedSignIn(cognito) {
  // 32 random bytes: a 43-character verifier, inside RFC 7636's 43..128.
  const verifier = randomToken(32);
  const state = randomToken(16);
  const redirect = redirectUri();
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, redirect, hash: location.hash }));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: cognito.client_id,
    redirect_uri: redirect,
    scope: "openid email",
    state,
    code_challenge: await challengeOf(verifier),
    code_challenge_method: "S256",
  });
  location.assign(`${hostedOrigin(cognito)}/oauth2/authorize?${query}`);
}

// null when this page load is not a return from the hosted UI; else { token } or { error }.
export async function finishHostedSignIn(cognito) {
  const query = new URLSearchParams(location.search);
  if (!query.has("code") && !query.has("error")) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING);
  // The code must not stay in the address bar or the history.
  history.replaceState(null, "", location.pathname + ((pending && pending.hash) || ""));
  if (query.has("error")) return { error: query.get("error_description") || query.get("error") };
  if (!cognito) return { error: "this console has no Cognito sign-in configured" };
  if (!pending || !query.get("state") || query.get("state") !== pending.state) {
    return { error: "the reply does not match a sign-in started in this tab (state mismatch)" };
  }
  let res;
  try {
    res = await fetch(`${hostedOrigin(cognito)}/oauth2/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        client_id: cognito.client_id,
        code: query.get("code"),
        redirect_uri: pending.redirect,
        code_verifier: pending.verifier,
      }),
    });
  } catch (err) {
    return { error: `cannot reach the sign-in service (${err.message})` };
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok || !body.id_token) {
    return { error: `the sign-in service refused the code (${body.error || `HTTP ${res.status}`})` };
  }
  return { token: body.id_token };
}
