/* The URL's query string with some keys changed, for the clientside callbacks that write a view's choices to the
   URL (the filter bar, pages/monitoring.py, funnel.py, experiments.py, budget.py). In the browser, not the server:
   a choice made while the view redraws (on the controls still shown) must not be lost, and a server callback for
   it would be dropped by Dash as soon as the redrawn controls report their values (the same callback, asked
   again). `changes` maps a key to its new value, or to '' to leave it out. `defaults`, a query string (the
   view's `filter-defaults`), gives from, to and compare where the URL has none: Filters.to_query always writes
   them. Written in the order and spelling of Filters.to_query (queries/filters.py): the filters first, then the
   other keys by name; encoded as Python's urlencode does (a space as +, commas, colons and slashes as they
   are). A key given several times keeps its values comma-joined, as the server reads them. */
window.pulseSearchWith = function (search, changes, defaults) {
    const params = new URLSearchParams(search || '');
    const fallback = new URLSearchParams(defaults || '');
    ['from', 'to', 'compare'].forEach(key => {
        if (!params.get(key) && fallback.get(key)) { params.set(key, fallback.get(key)); } });
    Object.keys(changes).forEach(key => changes[key] === '' ? params.delete(key) : params.set(key, changes[key]));
    const first = ['from', 'to', 'compare', 'channel', 'campaign', 'device', 'region'];
    const keys = Array.from(new Set(params.keys()));
    const ordered = first.filter(k => params.has(k)).concat(keys.filter(k => !first.includes(k)).sort());
    const encode = text => encodeURIComponent(text)
        .replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase())
        .replace(/%20/g, '+').replace(/%2C/g, ',').replace(/%3A/g, ':').replace(/%2F/g, '/');
    return '?' + ordered.map(k => encode(k) + '=' + encode(params.getAll(k).join(','))).join('&');
};

/* A number as Python's f"{value:g}" writes it (six significant digits; an exponent below 1e-4 or from 1e6),
   so a number typed in the browser reaches the URL spelt as the server writes it. */
window.pulseNumber = function (value) {
    const n = Number(value);
    if (!isFinite(n)) { return String(n); }
    if (n === 0) { return '0'; }
    const [mantissa, power] = n.toExponential(5).split('e');
    const exponent = parseInt(power, 10);
    const trim = text => text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
    if (exponent < -4 || exponent >= 6) {
        return trim(mantissa) + 'e' + (exponent < 0 ? '-' : '+') + String(Math.abs(exponent)).padStart(2, '0');
    }
    return trim(n.toFixed(5 - exponent));
};
