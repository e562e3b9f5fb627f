// The passkey button of the pre-built challenge page (/v1/ui). The page renders `#action-passkey`
// hidden, with `data-token` (the action's track token) and, when the user has no passkey yet and may
// add one, `data-enrol`; it loads /assets/simplewebauthn-browser.js before this file. Without
// JavaScript or WebAuthn the button stays hidden and the page's other methods remain. The ceremony
// runs against the client API on this origin (the token as bearer), then the browser goes to the
// page's finish route with the result token, in the page's mode (popup or redirect).
(function () {
  var root = document.getElementById('action-passkey');
  var lib = window.SimpleWebAuthnBrowser;
  if (!root || !lib || !lib.browserSupportsWebAuthn()) return;
  var button = root.tagName === 'BUTTON' ? root : root.querySelector('button');
  var problem = document.getElementById('action-passkey-problem');
  var token = root.getAttribute('data-token');
  var enrol = root.hasAttribute('data-enrol');
  var mode = new URLSearchParams(location.search).get('mode') === 'popup' ? 'popup' : 'redirect';
  if (!button || !token) return;

  function post(path, body) {
    return fetch('/v1/client' + path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token },
      body: JSON.stringify(body),
    }).then(function (res) {
      return res.json().then(function (json) {
        if (json.error) throw new Error(json.errorCode || json.error);
        return json;
      });
    });
  }

  function register() {
    return post('/user-authenticators/passkey/registration-options', { username: root.getAttribute('data-username') || undefined }).then(function (got) {
      return lib.startRegistration({ optionsJSON: got.options }).then(function (credential) {
        return post('/user-authenticators/passkey', { registrationCredential: credential, challengeId: got.challengeId });
      });
    });
  }

  function authenticate() {
    return post('/user-authenticators/passkey/authentication-options', {}).then(function (got) {
      return lib.startAuthentication({ optionsJSON: got.options }).then(function (credential) {
        return post('/verify/passkey', { authenticationCredential: credential, challengeId: got.challengeId });
      });
    });
  }

  root.hidden = false;
  button.hidden = false;
  button.addEventListener('click', function () {
    if (problem) problem.hidden = true;
    button.disabled = true;
    (enrol ? register() : authenticate())
      .then(function (answer) {
        if (!answer.accessToken) throw new Error('no result token');
        location.assign('/v1/ui/done?token=' + encodeURIComponent(answer.accessToken) + '&mode=' + mode);
      })
      .catch(function () {
        button.disabled = false;
        if (problem) problem.hidden = false;
        button.focus();
      });
  });
})();
