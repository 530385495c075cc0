/**
 * App credentials as channels see them: decrypted, with the `default` app filled from the
 * HERALD_* environment variables. Stored encrypted at rest (src/apps/).
 */
export interface ApnsCredentials {
  readonly bundleId: string;
  readonly environment: 'production' | 'development';
  /** Origin override (HERALD_APNS_URL / tests); default Apple's host for the environment. */
  readonly url?: string | undefined;
  /** Token auth: .p8 PEM key, key id, team id. */
  readonly teamId?: string | undefined;
  readonly keyId?: string | undefined;
  readonly key?: string | undefined;
  /** Certificate auth: PEM certificate + PEM private key, or PKCS#12 (base64) + passphrase. */
  readonly cert?: string | undefined;
  readonly privateKey?: string | undefined;
  readonly pkcs12?: string | undefined;
  readonly passphrase?: string | undefined;
}

export interface FcmServiceAccount {
  readonly project_id: string;
  readonly client_email: string;
  readonly private_key: string;
  readonly private_key_id?: string;
  readonly token_uri?: string;
  readonly [key: string]: unknown;
}

export interface FcmCredentials {
  readonly serviceAccount: FcmServiceAccount;
  /** API origin override (HERALD_FCM_URL). */
  readonly url?: string | undefined;
  /** Validate Android/web tokens with validate_only at registration (the old NestJS system's dry run). */
  readonly validateTokens?: boolean | undefined;
}

export interface WebPushCredentials {
  readonly vapidPublicKey: string;
  readonly vapidPrivateKey: string;
  readonly subject: string;
}

export interface EmailCredentials {
  readonly from: string;
  readonly smtpUrl?: string | undefined;
  readonly ses?: { readonly region: string } | undefined;
}

export interface WebhookCredentials {
  readonly url: string;
  readonly secret?: string | undefined;
}

export interface AppCredentials {
  readonly id: string;
  readonly name: string;
  readonly apns?: ApnsCredentials | undefined;
  readonly fcm?: FcmCredentials | undefined;
  readonly webpush?: WebPushCredentials | undefined;
  readonly email?: EmailCredentials | undefined;
  readonly webhook?: WebhookCredentials | undefined;
}

export type AppChannel = 'apns' | 'fcm' | 'webpush' | 'email' | 'webhook';

/** Where channels get an app's credentials and report credential problems. */
export interface AppCredentialStore {
  /** Decrypted credentials (cached briefly); undefined for an unknown app. */
  get(appId: string): Promise<AppCredentials | undefined>;
  /** Record (or clear, with undefined) a credential problem shown on the app's status. */
  reportProblem(appId: string, channel: AppChannel, problem: string | undefined): Promise<void>;
}
