// A passkey as the second factor on the MFA page (without it, or without WebAuthn, the page says
// to use another method). The button asks the server for a challenge bound to this sign-in, runs
// the browser's dialog, and posts the answer in the page's ordinary form.
(function () {
  var form = document.getElementById('mfa-passkey-form');
  var lib = window.SimpleWebAuthnBrowser;
  if (!form || !lib || !lib.browserSupportsWebAuthn()) return;
  var button = document.getElementById('passkey-button');
  var problem = document.getElementById('passkey-problem');
  document.querySelectorAll('[data-passkey-unsupported]').forEach(function (el) {
    el.hidden = true;
  });

  function fetchOptions() {
    return fetch(form.getAttribute('data-options'), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ csrf: form.elements.csrf.value }),
    }).then(function (res) {
      if (!res.ok) throw new Error('passkey options: ' + res.status);
      return res.json();
    });
  }

  button.hidden = false;
  button.addEventListener('click', function () {
    problem.hidden = true;
    fetchOptions()
      .then(function (got) {
        return lib.startAuthentication({ optionsJSON: got.options }).then(function (response) {
          form.elements.handle.value = got.handle;
          form.elements.response.value = JSON.stringify(response);
          form.submit();
        });
      })
      .catch(function () {
        problem.hidden = false;
        button.focus();
      });
  });
})();
