// Progressive enhancements of the portal pages. Every form works without
// this file; it adds the Copy button, confirmations, inline validation,
// forms sent once and focus on the error summary.
(function () {
  'use strict';

  function each(selector, fn) {
    Array.prototype.forEach.call(document.querySelectorAll(selector), fn);
  }

  // Copy buttons are hidden in the markup: without script they could not
  // work, and the URL stays selectable in its field.
  each('[data-copy-target]', function (button) {
    var field = document.getElementById(button.getAttribute('data-copy-target'));
    var status = document.getElementById(button.getAttribute('data-copy-status'));
    if (!field) {
      return;
    }
    button.hidden = false;
    button.addEventListener('click', function () {
      var text = field.value;
      function done() {
        button.setAttribute('data-copied', text);
        if (status) {
          status.textContent = 'Copied the URL to the clipboard.';
        }
      }
      function byHand() {
        field.focus();
        field.select();
        var ok = false;
        try {
          ok = document.execCommand('copy');
        } catch (e) {
          ok = false;
        }
        if (ok) {
          done();
        } else if (status) {
          status.textContent = 'The URL is selected: press Ctrl+C (or Cmd+C) to copy it.';
        }
      }
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(done, byHand);
      } else {
        byHand();
      }
    });
  });

  // Forms that change something at once ask first.
  each('form[data-confirm]', function (form) {
    form.addEventListener('submit', function (event) {
      if (!window.confirm(form.getAttribute('data-confirm'))) {
        event.preventDefault();
      }
    });
  });

  // Inline validation: the browser's own checks, plus the allowed domains
  // of a registration link, shown in the field's error element as soon as
  // the person leaves the field. The server checks everything again.
  function domainAllowed(address, patterns) {
    var at = address.lastIndexOf('@');
    if (at < 0) {
      return true; // the browser's email check reports this one
    }
    var domain = address.slice(at + 1).toLowerCase();
    return patterns.some(function (p) {
      p = p.trim().toLowerCase();
      if (p.indexOf('*.') === 0) {
        return domain.length > p.length - 1 && domain.slice(-(p.length - 1)) === p.slice(1);
      }
      return domain === p;
    });
  }

  each('form[data-validate]', function (form) {
    Array.prototype.forEach.call(form.querySelectorAll('input[id]'), function (input) {
      var error = document.getElementById(input.id + '-error');
      if (!error) {
        return;
      }
      function check() {
        var message = '';
        var allowed = input.getAttribute('data-allowed-domains');
        if (!input.validity.valid) {
          message = input.validationMessage;
        } else if (allowed && input.value && !domainAllowed(input.value, allowed.split(','))) {
          message = 'Use an address at ' + allowed + '.';
        }
        error.textContent = message;
        error.hidden = message === '';
        if (message) {
          input.setAttribute('aria-invalid', 'true');
        } else {
          input.removeAttribute('aria-invalid');
        }
      }
      input.addEventListener('blur', check);
      input.addEventListener('input', function () {
        if (input.getAttribute('aria-invalid') === 'true') {
          check();
        }
      });
    });
  });

  // A form is sent once. A second click (or Enter) while the first request
  // is on its way would send it again, and the browser shows the answer to
  // the second, which may differ from the first's (an invitation the first
  // request accepted). Listeners run in the order added, so a form whose
  // confirmation was declined (above) is not counted as sent.
  each('form[method="post"]', function (form) {
    form.addEventListener('submit', function (event) {
      if (event.defaultPrevented) {
        return;
      }
      if (form.getAttribute('data-sending') === 'true') {
        event.preventDefault();
        return;
      }
      form.setAttribute('data-sending', 'true');
      form.setAttribute('aria-busy', 'true');
    });
  });
  // A page the browser kept and shows again (Back) can send its forms again.
  window.addEventListener('pageshow', function (event) {
    if (event.persisted) {
      each('form[data-sending]', function (form) {
        form.removeAttribute('data-sending');
        form.removeAttribute('aria-busy');
      });
    }
  });

  // After a refused form, start at the list of problems.
  var summary = document.getElementById('error-summary');
  if (summary) {
    summary.focus();
  }
})();
