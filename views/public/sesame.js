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
