// Optional enhancement: counts down the resend cooldown and keeps the button disabled until then.
// Pages work without it; the server enforces the cooldown either way.
document.querySelectorAll('[data-countdown]').forEach(function (hint) {
  var left = parseInt(hint.getAttribute('data-countdown'), 10);
  var button = hint.parentElement.querySelector('button[data-cooldown]');
  var template = hint.textContent.replace(String(left), '{n}');
  if (button) button.disabled = true;
  var timer = setInterval(function () {
    left -= 1;
    if (left <= 0) {
      clearInterval(timer);
      hint.textContent = '';
      if (button) button.disabled = false;
      return;
    }
    hint.textContent = template.replace('{n}', String(left));
  }, 1000);
});

// Waiting for a sign-in link opened on another device: ask the server every 2 s and continue once
// it is approved; stop once the sign-in is over (finished in another tab, expired). Without
// JavaScript the "continue" button does the same.
document.querySelectorAll('form[data-poll]').forEach(function (form) {
  var url = form.getAttribute('data-poll');
  var timer = setInterval(function () {
    // A hidden tab waits; it asks again as soon as it is shown.
    if (document.visibilityState === 'hidden') return;
    fetch(url, { credentials: 'same-origin', headers: { accept: 'application/json' } })
      .then(function (res) { return res.ok ? res.json() : { approved: false }; })
      .then(function (status) {
        if (status.ended) clearInterval(timer);
        else if (status.approved) {
          clearInterval(timer);
          form.submit();
        }
      })
      .catch(function () {});
  }, 2000);
});
