import { escapeHtml, htmlPage } from '../html.ts';
import type { Applicant } from './applicants.ts';

const BRAND = 'Sandbox Identity';

/** The hosted verification: document upload and liveness, simulated as one form. */
export function verificationPage(applicant: Applicant, error?: string): string {
  const heading =
    applicant.status === 'reverification_required' ? 'Verify your identity again' : 'Verify your identity';
  return htmlPage(
    heading,
    BRAND,
    `<h1>${heading}</h1>
<p>${escapeHtml(applicant.firstName)} ${escapeHtml(applicant.lastName)}</p>
${error ? `<p class="error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/kyc/verify/${escapeHtml(applicant.id)}">
  <label for="document_type">1. Identity document</label>
  <select id="document_type" name="document_type">
    <option value="passport">Passport</option>
    <option value="id_card">National ID card</option>
    <option value="driving_license">Driving licence</option>
  </select>
  <label><input type="checkbox" name="document_uploaded" value="yes" checked> Upload photo of the document (simulated)</label>
  <label><input type="checkbox" name="liveness" value="completed" checked> 2. Liveness check: look at the camera (simulated)</label>
  <div class="actions">
    <button class="primary" type="submit" name="action" value="submit">Submit for review</button>
  </div>
</form>`,
  );
}

export function resultPage(applicant: Applicant): string {
  const detail = applicant.failureReason ? ` (${escapeHtml(applicant.failureReason)})` : '';
  return htmlPage(
    'Verification',
    BRAND,
    `<h1>Verification ${escapeHtml(applicant.status.replaceAll('_', ' '))}${detail}</h1><p>You can close this window.</p>`,
  );
}
