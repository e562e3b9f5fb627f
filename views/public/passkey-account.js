// "Add a passkey" on the account page: shown only where the browser has WebAuthn (the rest of the
// page works without JavaScript). Asks the server for options, lets the authenticator create the
// passkey, posts it back. A stale sign-in is answered login_required: the page then goes to sign in
// again, and the user adds the passkey once back.
(function () {
  var box = document.querySelector('[data-passkey-add]');
  var lib = window.SimpleWebAuthnBrowser;
  if (!box || !lib || !lib.browserSupportsWebAuthn()) return;
  var button = box.querySelector('button');
  var status = box.querySelector('[data-passkey-status]');
  var csrf = box.getAttribute('data-csrf');
  box.hidden = false;

  function post(url, body) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': csrf },
      body: JSON.stringify(body),
    }).then(function (res) {
      return res.json().then(function (json) {
        return { status: res.status, json: json };
      });
    });
  }

  // Only our own paths: a response can never send the page elsewhere.
  function go(path) {
    if (typeof path === 'string' && /^\/account(\/|\?|$)/.test(path)) window.location.assign(path);
  }

  function fail(answer) {
    if (answer && answer.json && answer.json.error === 'login_required') return go(answer.json.sign_in);
    status.textContent = (answer && answer.json && answer.json.error_description) || status.getAttribute('data-failed');
    button.disabled = false;
  }

  button.addEventListener('click', function () {
    button.disabled = true;
    status.textContent = status.getAttribute('data-working');
    post('/account/passkeys/options', {})
      .then(function (answer) {
        if (answer.status !== 200) return fail(answer);
        return lib
          .startRegistration({ optionsJSON: answer.json.options })
          .then(function (response) {
            return post('/account/passkeys', { handle: answer.json.handle, response: response });
          })
          .then(function (done) {
            if (done.status === 200 && done.json.ok) go(done.json.location);
            else fail(done);
          });
      })
      .catch(function () {
        fail(null);
      });
  });
})();
