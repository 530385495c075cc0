import { css } from 'lit';

/**
 * Every colour, size and font comes from a `--herald-inbox-*` custom property with a default, so
 * a page themes the component from outside its shadow root (README.md lists them). `::part()`
 * names (button, badge, panel, item) allow more.
 */
export const styles = css`
  :host {
    --_font: var(--herald-inbox-font, inherit);
    --_color: var(--herald-inbox-color, #1f2328);
    --_muted: var(--herald-inbox-muted-color, #57606a);
    --_background: var(--herald-inbox-background, #ffffff);
    --_border: var(--herald-inbox-border-color, #d0d7de);
    --_accent: var(--herald-inbox-accent, #0b5fcc);
    --_badge-bg: var(--herald-inbox-badge-background, #c62828);
    --_badge-color: var(--herald-inbox-badge-color, #ffffff);
    --_unread-bg: var(--herald-inbox-unread-background, #eef4ff);
    --_radius: var(--herald-inbox-radius, 8px);
    --_width: var(--herald-inbox-width, 22rem);
    --_max-height: var(--herald-inbox-max-height, 28rem);
    --_shadow: var(--herald-inbox-shadow, 0 8px 24px rgba(31, 35, 40, 0.18));
    --_focus: var(--herald-inbox-focus-ring, 2px solid #0b5fcc);
    display: inline-block;
    position: relative;
    font-family: var(--_font);
    color: var(--_color);
    line-height: 1.4;
  }
  :host([inline]) {
    display: block;
  }
  button {
    font: inherit;
    cursor: pointer;
  }
  :focus-visible {
    outline: var(--_focus);
    outline-offset: 2px;
  }
  .bell {
    position: relative;
    display: inline-flex;
    align-items: center;
    justify-content: center;
    inline-size: 2.5rem;
    block-size: 2.5rem;
    padding: 0;
    border: 1px solid var(--_border);
    border-radius: 50%;
    background: var(--_background);
    color: var(--_color);
  }
  .bell svg {
    inline-size: 1.25rem;
    block-size: 1.25rem;
  }
  .badge {
    position: absolute;
    inset-block-start: -0.3rem;
    inset-inline-end: -0.3rem;
    min-inline-size: 1.25rem;
    padding: 0 0.3rem;
    border-radius: 999px;
    background: var(--_badge-bg);
    color: var(--_badge-color);
    font-size: 0.75rem;
    font-weight: 700;
    line-height: 1.25rem;
    text-align: center;
    box-sizing: border-box;
  }
  .panel {
    position: absolute;
    z-index: var(--herald-inbox-z-index, 1000);
    inset-block-start: calc(100% + 0.5rem);
    inset-inline-end: 0;
    inline-size: var(--_width);
    max-inline-size: calc(100vw - 1rem);
    max-block-size: var(--_max-height);
    overflow: auto;
    background: var(--_background);
    border: 1px solid var(--_border);
    border-radius: var(--_radius);
    box-shadow: var(--_shadow);
  }
  :host([inline]) .panel {
    position: static;
    inline-size: auto;
    box-shadow: none;
  }
  .panel[hidden] {
    display: none;
  }
  header {
    display: flex;
    align-items: center;
    justify-content: space-between;
    gap: 0.5rem;
    padding: 0.75rem 1rem;
    border-block-end: 1px solid var(--_border);
  }
  h2 {
    margin: 0;
    font-size: 1rem;
  }
  .text-button {
    padding: 0.25rem 0.5rem;
    border: 0;
    border-radius: 4px;
    background: none;
    color: var(--_accent);
    font-size: 0.875rem;
  }
  .text-button:hover {
    text-decoration: underline;
  }
  ul {
    margin: 0;
    padding: 0;
    list-style: none;
  }
  li {
    display: grid;
    grid-template-columns: 1fr auto;
    gap: 0.25rem 0.5rem;
    padding: 0.75rem 1rem;
    border-block-end: 1px solid var(--_border);
  }
  li.unread {
    background: var(--_unread-bg);
  }
  li:last-child {
    border-block-end: 0;
  }
  .title {
    margin: 0;
    font-weight: 600;
  }
  li.unread .title::before {
    content: '';
    display: inline-block;
    inline-size: 0.5rem;
    block-size: 0.5rem;
    margin-inline-end: 0.4rem;
    border-radius: 50%;
    background: var(--_accent);
    vertical-align: middle;
  }
  .title a {
    color: inherit;
  }
  .body {
    grid-column: 1;
    margin: 0;
  }
  time {
    grid-column: 1;
    color: var(--_muted);
    font-size: 0.8125rem;
  }
  .mark {
    grid-column: 2;
    grid-row: 1 / span 3;
    align-self: start;
  }
  .status {
    margin: 0;
    padding: 1.5rem 1rem;
    color: var(--_muted);
    text-align: center;
  }
  .more {
    display: block;
    inline-size: 100%;
    padding: 0.6rem;
    border: 0;
    border-block-start: 1px solid var(--_border);
    background: none;
    color: var(--_accent);
  }
  .visually-hidden {
    position: absolute;
    inline-size: 1px;
    block-size: 1px;
    overflow: hidden;
    clip-path: inset(50%);
    white-space: nowrap;
  }
`;
