// Readable names of common passkey providers by AAGUID (what an authenticator says it is at
// registration), so a user's list reads "iCloud Keychain" rather than a UUID. Unknown ones show none.

const NAMES: Record<string, string> = {
  'fbfc3007-154e-4ecc-8c0b-6e020557d7bd': 'iCloud Keychain',
  'ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4': 'Google Password Manager',
  'adce0002-35bc-c60a-648b-0b25f1f05503': 'Chrome on Mac',
  '08987058-cadc-4b81-b6e1-30de50dcbe96': 'Windows Hello',
  '9ddd1817-af5a-4672-a2b9-3e3dd95000a9': 'Windows Hello',
  '6028b017-b1d4-4c02-b4b3-afcdafc96bb2': 'Windows Hello',
  'bada5566-a7aa-401f-bd96-45619a55120d': '1Password',
  'd548826e-79b4-db40-a3d8-11116f7e8349': 'Bitwarden',
  // Chromium's virtual authenticator (developer tools, automated tests).
  '01020304-0506-0708-0102-030405060708': 'Virtual authenticator',
};

/** The provider's name, or null when the AAGUID is unknown or all zeros (attestation "none" often sends that). */
export function authenticatorName(aaguid: string): string | null {
  return NAMES[aaguid.toLowerCase()] ?? null;
}
