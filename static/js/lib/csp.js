// Report Content-Security-Policy violations loudly: to the console (which the
// browser tests collect) and to window.hcCspViolations.

window.hcCspViolations = window.hcCspViolations || [];
document.addEventListener('securitypolicyviolation', (event) => {
  const report = {
    directive: event.violatedDirective,
    blocked: event.blockedURI,
    source: event.sourceFile,
    line: event.lineNumber,
  };
  window.hcCspViolations.push(report);
  console.error('CSP violation', JSON.stringify(report));
});
