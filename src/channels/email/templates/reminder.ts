/**
 * The reminder e-mail (seed 002 sent it as an SES template): a greeting with the user's name, the
 * title, the message and a link. Rendered with eta.
 *
 * Why TypeScript string constants rather than .eta files: herald runs its sources directly in
 * development and from dist/ in production, and `tsc` copies no non-TypeScript files into dist/.
 * Files read through import.meta.url would need a copy step in `npm run build` that is easy to
 * forget; constants travel with the compiled module and cannot go missing.
 *
 * Data (`it`): name?: string, title?: string, message?: string, link?: string (http/https only,
 * checked before rendering).
 */

/** Plain-text part: never escaped (it is not HTML). */
export const REMINDER_TEXT = `<% if (it.name) { %>Hi <%~ it.name %>,<% } else { %>Hi,<% } %>

<% if (it.title) { %><%~ it.title %>

<% } %>
<% if (it.message) { %><%~ it.message %>

<% } %>
<% if (it.link) { %>Open: <%~ it.link %>

<% } %>
-- 
Sent by herald. You receive this because you asked to be reminded.
`;

/**
 * HTML part: every `<%= %>` is HTML-escaped (autoEscape), including the link inside the
 * double-quoted href attribute, where escaping `"` and `&` is what keeps it an attribute.
 */
export const REMINDER_HTML = `<!doctype html>
<html>
<head><meta charset="utf-8"><title><%= it.title ?? 'Reminder' %></title></head>
<body style="font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; color: #1a1a1a; line-height: 1.5">
<p><% if (it.name) { %>Hi <%= it.name %>,<% } else { %>Hi,<% } %></p>
<% if (it.title) { %>
<h2 style="margin: 0 0 8px"><%= it.title %></h2>
<% } %>
<% if (it.message) { %>
<p style="white-space: pre-line"><%= it.message %></p>
<% } %>
<% if (it.link) { %>
<p><a href="<%= it.link %>" style="color: #0b57d0">Open</a></p>
<% } %>
<p style="color: #666; font-size: 12px">Sent by herald. You receive this because you asked to be reminded.</p>
</body>
</html>
`;
