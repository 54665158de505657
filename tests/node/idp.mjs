// Stand-in upstream OpenID provider for the tests (Pro Santé Connect / FranceConnect look-alike), on npm
// oidc-provider (../shared/specs/testing-tools.md §3). Started by tests/auth/oidc/conftest.py; stopped by PID.
//
// Environment: IDP_PORT, IDP_REDIRECT_URIS and IDP_POST_LOGOUT_URIS (comma-separated).
// Clients: "psc-client" (client_secret_basic, JSON userinfo) and "fc-client" (client_secret_post, userinfo signed
// RS256 as application/jwt); PKCE required for both. Logins: "rpps-<11 digits>" get PSC claims (SubjectNameID
// "8"+RPPS, SubjectRefPro); others get FranceConnect identité pivot claims ("other-…": another person). The login
// and consent forms (devInteractions' pages) are answered here so that the session's acr is set: "low-…" logins
// get eidas1, the others eidas2.
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.IDP_PORT || 9000);
const redirectUris = (process.env.IDP_REDIRECT_URIS || '').split(',').filter(Boolean);
const postLogoutUris = (process.env.IDP_POST_LOGOUT_URIS || '').split(',').filter(Boolean);
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'idp-rs256', use: 'sig', alg: 'RS256' };

function pscClaims(login) {
  const rpps = login.slice('rpps-'.length);
  return {
    SubjectNameID: `8${rpps}`,
    given_name: 'Claire',
    family_name: 'PETIT',
    preferred_username: `8${rpps}`,
    SubjectOrganization: 'EHPAD Les Tilleuls',
    SubjectRefPro: {
      codeCivilite: 'MME',
      exercices: [{
        codeProfession: '60',
        codeCategorieProfessionnelle: 'C',
        nomDexercice: 'PETIT',
        prenomDexercice: 'Claire',
        activities: [{
          codeModeExercice: 'S',
          raisonSocialeSite: 'EHPAD Les Tilleuls',
          numeroFinessSite: '210012345',
          numeroSiretSite: '12345678900011',
        }],
      }],
    },
  };
}

function fcClaims(login) {
  const other = login.includes('other-');
  return {
    given_name: other ? 'Jean Pierre' : 'Jeanne Marie',
    family_name: other ? 'DUPONT' : 'MARTIN',
    birthdate: other ? '1950-06-15' : '1931-04-02',
    gender: other ? 'male' : 'female',
    birthplace: '21231',
    birthcountry: '99100',
    email: `${login}@example.test`,
  };
}

const configuration = {
  clients: [
    {
      client_id: 'psc-client', client_secret: 'psc-secret', token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: redirectUris, post_logout_redirect_uris: postLogoutUris,
      grant_types: ['authorization_code'], response_types: ['code'],
    },
    {
      client_id: 'fc-client', client_secret: 'fc-secret', token_endpoint_auth_method: 'client_secret_post',
      redirect_uris: redirectUris, post_logout_redirect_uris: postLogoutUris,
      grant_types: ['authorization_code'], response_types: ['code'], userinfo_signed_response_alg: 'RS256',
    },
  ],
  pkce: { required: () => true },
  scopes: ['openid', 'scope_all', 'identite_pivot', 'email'],
  claims: {
    openid: ['sub'],
    scope_all: ['SubjectNameID', 'SubjectRefPro', 'given_name', 'family_name', 'preferred_username',
      'SubjectOrganization'],
    identite_pivot: ['given_name', 'family_name', 'birthdate', 'gender', 'birthplace', 'birthcountry'],
    email: ['email'],
  },
  conformIdTokenClaims: false,
  acrValues: ['eidas1', 'eidas2', 'eidas3'],
  features: {
    devInteractions: { enabled: true },
    userinfo: { enabled: true },
    jwtUserinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
  },
  jwks: { keys: [jwk] },
  cookies: { keys: ['stand-in-idp-cookie-key'] },
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...(id.startsWith('rpps-') ? pscClaims(id) : fcClaims(id)) };
      },
    };
  },
};

const provider = new Provider(issuer, configuration);
const callback = provider.callback();

function readBody(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (chunk) => { data += chunk; });
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

async function consent(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt: { details: missing }, params, session: { accountId } } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scope] of Object.entries(missing.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scope.join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

// the devInteractions pages post both forms to /interaction/<uid> (field "prompt"); answered here
const server = http.createServer(async (req, res) => {
  if (!(req.method === 'POST' && /^\/interaction\/[^/]+$/.test(req.url || ''))) {
    callback(req, res);
    return;
  }
  try {
    const form = new URLSearchParams(await readBody(req));
    if (form.get('prompt') === 'login') {
      const login = form.get('login') || 'anonymous';
      const acr = login.startsWith('low-') ? 'eidas1' : 'eidas2';
      await provider.interactionFinished(req, res, { login: { accountId: login, acr } },
        { mergeWithLastSubmission: false });
    } else {
      await consent(req, res);
    }
  } catch (err) {
    res.statusCode = 500;
    res.end(String(err));
  }
});
server.listen(port, '127.0.0.1', () => {
  console.log(`stand-in idp listening on ${issuer}`);
});
