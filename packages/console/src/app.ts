import { LitElement, html, nothing, type TemplateResult } from 'lit';
import { SIGNED_OUT, forgetKey, keepKey, storedKey, verifyKey, describe } from './api.ts';

/** The pages, by the first part of the location hash (`#/users/ada` → users). */
const PAGES: ReadonlyArray<{ path: string; label: string }> = [
  { path: 'overview', label: 'Overview' },
  { path: 'apps', label: 'Apps' },
  { path: 'users', label: 'Users' },
  { path: 'dead-letters', label: 'Dead letters' },
  { path: 'topics', label: 'Topics' },
  { path: 'templates', label: 'Templates' },
];

/** `#/users/ada%40x` → ['users', 'ada@x']. */
export function route(): string[] {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter((p) => p !== '');
  return parts.map((p) => decodeURIComponent(p));
}

export function href(...parts: string[]): string {
  return `#/${parts.map((p) => encodeURIComponent(p)).join('/')}`;
}

/**
 * `<herald-console>`: sign-in, navigation and the page of the current hash. Pages render into
 * the light DOM (one stylesheet for all, and uPlot's own CSS applies).
 */
export class HeraldConsole extends LitElement {
  static override properties = {
    signedIn: { state: true },
    path: { state: true },
    notice: { state: true },
    busy: { state: true },
  };
  declare signedIn: boolean;
  declare path: string[];
  declare notice: string;
  declare busy: boolean;

  constructor() {
    super();
    this.signedIn = storedKey() !== null;
    this.path = route();
    this.notice = '';
    this.busy = false;
  }

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  readonly #onHash = (): void => {
    this.path = route();
  };

  readonly #onSignedOut = (event: Event): void => {
    forgetKey();
    this.signedIn = false;
    this.notice = (event as CustomEvent<number>).detail === 403
      ? 'This key may not open the console: it needs an admin API key for every app.'
      : 'herald no longer accepts this key. Sign in again.';
  };

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('hashchange', this.#onHash);
    window.addEventListener(SIGNED_OUT, this.#onSignedOut);
  }

  override disconnectedCallback(): void {
    window.removeEventListener('hashchange', this.#onHash);
    window.removeEventListener(SIGNED_OUT, this.#onSignedOut);
    super.disconnectedCallback();
  }

  async #signIn(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const input = form.elements.namedItem('key') as HTMLInputElement;
    const key = input.value.trim();
    if (key === '') return;
    this.busy = true;
    this.notice = '';
    try {
      const verdict = await verifyKey(key);
      if (verdict === 'ok') {
        keepKey(key);
        input.value = '';
        this.signedIn = true;
        if (this.path.length === 0) location.hash = href('overview');
      } else {
        this.notice = verdict === 'forbidden'
          ? 'This key may not open the console: it needs an admin API key for every app.'
          : 'herald refused this key.';
      }
    } catch (err) {
      this.notice = `Could not reach herald: ${describe(err)}`;
    } finally {
      this.busy = false;
    }
  }

  #signOut(): void {
    forgetKey();
    this.signedIn = false;
    this.notice = 'Signed out.';
  }

  override render(): TemplateResult {
    if (!this.signedIn) {
      return html`
        <main class="sign-in">
          <h1>herald console</h1>
          <form @submit=${(e: SubmitEvent) => void this.#signIn(e)}>
            <label for="key">Admin API key</label>
            <input id="key" name="key" type="password" autocomplete="off" spellcheck="false" required>
            <button type="submit" ?disabled=${this.busy}>Sign in</button>
          </form>
          <p class="hint">The key stays in this tab (session storage) and is sent only to this herald.</p>
          <p class="notice" role="alert">${this.notice}</p>
        </main>`;
    }
    const [page = 'overview', ...rest] = this.path;
    return html`
      <header>
        <strong class="brand">herald</strong>
        <nav aria-label="Console">
          ${PAGES.map((p) => html`<a href=${href(p.path)} aria-current=${p.path === page || (page === 'notifications' && p.path === 'users') ? 'page' : nothing}>${p.label}</a>`)}
        </nav>
        <button class="link" @click=${() => this.#signOut()}>Sign out</button>
      </header>
      <main>${this.#page(page, rest)}</main>`;
  }

  #page(page: string, rest: string[]): TemplateResult {
    switch (page) {
      case 'overview':
        return html`<hc-overview></hc-overview>`;
      case 'apps':
        return html`<hc-apps></hc-apps>`;
      case 'users':
        return rest[0] === undefined ? html`<hc-users></hc-users>` : html`<hc-user .userId=${rest[0]}></hc-user>`;
      case 'notifications':
        return html`<hc-notification .notificationId=${rest[0] ?? ''}></hc-notification>`;
      case 'dead-letters':
        return html`<hc-dead-letters></hc-dead-letters>`;
      case 'topics':
        return rest.length >= 2 ? html`<hc-topic .appId=${rest[0]!} .key=${rest[1]!}></hc-topic>` : html`<hc-topics></hc-topics>`;
      case 'templates':
        return rest.length >= 2 ? html`<hc-template .appId=${rest[0]!} .key=${rest[1]!}></hc-template>` : html`<hc-templates></hc-templates>`;
      default:
        return html`<p>No page ${page}. <a href=${href('overview')}>Overview</a></p>`;
    }
  }
}
