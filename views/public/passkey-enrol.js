// Creating a passkey from a page: the offer after a code or link sign-in, and the account page.
// The page works without it (the form's Continue / Not now); this shows the "Create" button only
// where WebAuthn works. Contract of the markup, so any page can reuse it:
//   <form data-passkey-enrol data-options-url="..." data-error-id="...">, with hidden inputs csrf,
//   handle and response. The options URL answers POST {csrf} (JSON) with {handle, options}; after
//   the browser made the passkey the form is submitted with handle, response (JSON) and decision=create.
//   [data-passkey-create]: the button that starts it (hidden until supported);
//   [data-passkey-supported] is shown and [data-passkey-unsupported] hidden where WebAuthn works;
//   the element named by data-error-id is shown when the browser step fails (cancelled, refused).
(function () {
  var webauthn = window.SimpleWebAuthnBrowser;
  var forms = document.querySelectorAll('form[data-passkey-enrol]');
  if (!forms.length || !webauthn || !webauthn.browserSupportsWebAuthn()) return;
  document.querySelectorAll('[data-passkey-create], [data-passkey-supported]').forEach(function (el) {
    el.hidden = false;
  });
  document.querySelectorAll('[data-passkey-unsupported]').forEach(function (el) {
    el.hidden = true;
  });

  function submitCreated(form, handle, response) {
    form.elements.handle.value = handle;
    form.elements.response.value = JSON.stringify(response);
    var decision = document.createElement('input');
    decision.type = 'hidden';
    decision.name = 'decision';
    decision.value = 'create';
    form.appendChild(decision);
    form.submit();
  }

  forms.forEach(function (form) {
    var button = form.querySelector('[data-passkey-create]');
    var error = document.getElementById(form.getAttribute('data-error-id') || '');
    if (!button) return;
    button.addEventListener('click', function () {
      button.disabled = true;
      if (error) error.hidden = true;
      fetch(form.getAttribute('data-options-url'), {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ csrf: form.elements.csrf.value }),
      })
        .then(function (res) {
          if (!res.ok) throw new Error('passkey options: ' + res.status);
          return res.json();
        })
        .then(function (got) {
          return webauthn.startRegistration({ optionsJSON: got.options }).then(function (response) {
            submitCreated(form, got.handle, response);
          });
        })
        .catch(function () {
          // Cancelled or refused in the browser: say so and leave the choice (try again, or go on).
          button.disabled = false;
          if (error) error.hidden = false;
          button.focus();
        });
    });
  });
})();
