// The pre-built challenge page in popup mode (an iframe of @authsignal/browser, or a window it
// opened): tells the app's window the page is ready (AUTHSIGNAL_READY shows the dialog), and on
// the finish page hands it the result token (AUTHSIGNAL_CLOSE_POPUP). The messages are JSON
// strings, as the SDK reads them, and go only to the tenant's own origins (the page lists them):
// a window of another origin never receives the token.
(function () {
  var holder = document.getElementById('action-popup');
  if (!holder) return;
  var target = window.parent !== window ? window.parent : window.opener;
  if (!target) return;
  var origins = (holder.getAttribute('data-origins') || '').split(' ').filter(Boolean);
  function post(message) {
    origins.forEach(function (origin) {
      target.postMessage(JSON.stringify(message), origin);
    });
  }
  post({ event: 'AUTHSIGNAL_READY' });
  var token = holder.getAttribute('data-token');
  if (token) post({ event: 'AUTHSIGNAL_CLOSE_POPUP', token: token });
})();
