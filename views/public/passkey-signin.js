// Passkey sign-in on the email page (an enhancement: without it, or without WebAuthn, the page is
// the code sign-in as always). Autofill: the identifier field offers the passkeys of this site and
// picking one signs in without typing. The button runs the same ceremony in the browser's dialog.
// Either way the answer goes to the server in an ordinary form post, which shows the next page.
(function () {
  var form = document.getElementById('passkey-form');
  var lib = window.SimpleWebAuthnBrowser;
  if (!form || !lib || !lib.browserSupportsWebAuthn()) return;
  var button = document.getElementById('passkey-button');
  var problem = document.getElementById('passkey-problem');
  // Once the dialog is asked for, a late autofill must not start (it would cancel the dialog).
  var modal = false;

  // A fresh challenge, bound by the server to this sign-in.
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

  function signIn(autofill) {
    return fetchOptions().then(function (got) {
      if (autofill && modal) return;
      return lib.startAuthentication({ optionsJSON: got.options, useBrowserAutofill: autofill }).then(function (response) {
        form.elements.handle.value = got.handle;
        form.elements.response.value = JSON.stringify(response);
        form.submit();
      });
    });
  }

  button.hidden = false;
  button.addEventListener('click', function () {
    modal = true;
    problem.hidden = true;
    signIn(false).catch(function (err) {
      // Starting the dialog ends a pending autofill (AbortError there, not here); anything else is shown.
      if (err && err.name === 'AbortError') return;
      problem.hidden = false;
      button.focus();
    });
  });

  lib.browserSupportsWebAuthnAutofill().then(function (supported) {
    // After a refused passkey the page waits for the user (the button) instead of trying again by itself.
    if (!supported || form.hasAttribute('data-no-autofill')) return;
    // An autofill that ends without a passkey (none here, the button took over) leaves the page as it is.
    signIn(true).catch(function () {});
  });
})();
