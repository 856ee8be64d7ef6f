/* The URL's query string with some keys changed, for the clientside callbacks that write a view's choices to the
   URL (pages/funnel.py, pages/experiments.py). `changes` maps a key to its new value, or to '' to leave it out.
   Written in the order and spelling of Filters.to_query (queries/filters.py): the filters first, then the
   other keys by name; commas, colons and slashes unescaped. A key given several times keeps its values
   comma-joined, as the server reads them. */
window.pulseSearchWith = function (search, changes) {
    const params = new URLSearchParams(search || '');
    Object.keys(changes).forEach(key => changes[key] === '' ? params.delete(key) : params.set(key, changes[key]));
    const first = ['from', 'to', 'compare', 'channel', 'campaign', 'device', 'region'];
    const keys = Array.from(new Set(params.keys()));
    const ordered = first.filter(k => params.has(k)).concat(keys.filter(k => !first.includes(k)).sort());
    const encode = text => encodeURIComponent(text).replace(/%2C/g, ',').replace(/%3A/g, ':').replace(/%2F/g, '/');
    return '?' + ordered.map(k => encode(k) + '=' + encode(params.getAll(k).join(','))).join('&');
};
