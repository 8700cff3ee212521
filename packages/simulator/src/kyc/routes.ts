import type { FastifyInstance } from 'fastify';
import { adminError } from '../admin/routes.ts';
import type { ProviderContext, SimulatedProvider } from '../context.ts';
import { brokenPage, returnLocation } from '../html.ts';
import { endpoint, paramOf } from '../http/endpoint.ts';
import { Fields } from '../http/fields.ts';
import { requestFingerprint } from '../http/fingerprint.ts';
import { Applicants, serializeApplicant } from './applicants.ts';
import { isFailureReason, scenarioOf } from './magic.ts';
import { resultPage, verificationPage } from './pages.ts';
import { invalidKycField, kycDialect, kycError } from './wire.ts';

const HTML = { 'content-type': 'text/html; charset=utf-8' };
const DOCUMENT_TYPES = ['passport', 'id_card', 'driving_license'];

function isCalendarDate(value: string): boolean {
  const date = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(value);
}

/** KYC: applicants verified through a hosted document + liveness page, with manual review and re-verification. */
export function createKycProvider(context: ProviderContext): SimulatedProvider {
  const applicants = new Applicants(context);
  const { kit } = context;
  const url = () => context.publicUrl();

  return {
    provider: 'kyc',
    register(app: FastifyInstance) {
      app.post(
        '/kyc/v1/applicants',
        endpoint(
          kit,
          kycDialect,
          (request) => {
            const fields = new Fields(request.body, invalidKycField);
            const externalUserId = fields.string('externalUserId', { max: 100 });
            const firstName = fields.string('firstName', { max: 100 });
            const lastName = fields.string('lastName', { max: 100 });
            const email = fields.string('email', { max: 254, pattern: /^[^@\s]+@[^@\s]+\.[^@\s]+$/ });
            const dob = fields.string('dob', { pattern: /^\d{4}-\d{2}-\d{2}$/ });
            if (!isCalendarDate(dob) || Date.parse(dob) > context.clock.nowMs()) {
              throw fields.fail('dob', 'dob must be a past date, YYYY-MM-DD');
            }
            const country = fields.string('country', { pattern: /^[A-Z]{2}$/ });
            const returnUrl = fields.optionalUrl('returnUrl') ?? null;
            const scenario = scenarioOf(email);
            if (scenario.kind === 'error') {
              const fingerprint = requestFingerprint('POST', request.url, request.body);
              if (!scenario.once || context.firstSighting(fingerprint)) {
                throw kycDialect.error('internal', 'Simulated provider error (magic email)');
              }
            }
            const existing = applicants.byExternalUserId(externalUserId);
            if (existing) {
              const conflict = kycError(
                409,
                'applicant_exists',
                'An applicant with this externalUserId already exists',
              );
              (conflict.answer.body as Record<string, unknown>)['existingApplicantId'] = existing.id;
              throw conflict;
            }
            const applicant = applicants.create({
              externalUserId,
              firstName,
              lastName,
              email,
              dob,
              country,
              returnUrl,
              scenario,
            });
            return { status: 201, body: serializeApplicant(applicant, url()), createdId: applicant.id };
          },
          { idempotent: true },
        ),
      );

      app.get(
        '/kyc/v1/applicants/:id',
        endpoint(kit, kycDialect, (request) => {
          const applicant = applicants.get(paramOf(request, 'id'));
          if (!applicant) throw kycDialect.error('not_found', 'No such applicant');
          return { status: 200, body: serializeApplicant(applicant, url()) };
        }),
      );

      // The merchant asks for the applicant to verify again (a document expired, a risk
      // review): a verified applicant's verdict becomes reverification_required, and its
      // page takes a new submission.
      app.post(
        '/kyc/v1/applicants/:id/reverification',
        endpoint(kit, kycDialect, (request) => {
          const applicant = applicants.get(paramOf(request, 'id'));
          if (!applicant) throw kycDialect.error('not_found', 'No such applicant');
          if (
            applicant.status !== 'reverification_required' &&
            !applicants.requireReverification(applicant, context.clock.nowMs())
          )
            throw kycError(409, 'invalid_state', `The applicant is ${applicant.status}, not verified`);
          return { status: 200, body: serializeApplicant(applicant, url()) };
        }),
      );

      app.get(
        '/kyc/verify/:id',
        endpoint(
          kit,
          kycDialect,
          (request) => {
            const applicant = applicants.get(paramOf(request, 'id'));
            if (!applicant) return { status: 404, body: brokenPage('Sandbox Identity'), headers: HTML };
            if (applicant.scenario.kind === 'page_error')
              return { status: 500, body: brokenPage('Sandbox Identity'), headers: HTML };
            const page = applicants.acceptsSubmission(applicant) ? verificationPage(applicant) : resultPage(applicant);
            return { status: 200, body: page, headers: HTML };
          },
          { auth: false },
        ),
      );

      app.post(
        '/kyc/verify/:id',
        endpoint(
          kit,
          kycDialect,
          (request) => {
            const applicant = applicants.get(paramOf(request, 'id'));
            if (!applicant) return { status: 404, body: brokenPage('Sandbox Identity'), headers: HTML };
            if (applicant.scenario.kind === 'page_error')
              return { status: 500, body: brokenPage('Sandbox Identity'), headers: HTML };
            if (!applicants.acceptsSubmission(applicant))
              return { status: 409, body: resultPage(applicant), headers: HTML };
            const form = (request.body ?? {}) as Record<string, string>;
            const documentType = form['document_type'] ?? '';
            if (
              !DOCUMENT_TYPES.includes(documentType) ||
              form['document_uploaded'] !== 'yes' ||
              form['liveness'] !== 'completed'
            ) {
              const page = verificationPage(applicant, 'Upload a document and complete the liveness check.');
              return { status: 400, body: page, headers: HTML };
            }
            applicants.submit(applicant, documentType);
            if (!applicant.returnUrl) return { status: 200, body: resultPage(applicant), headers: HTML };
            const location = returnLocation(applicant.returnUrl, {
              applicantId: applicant.id,
              status: applicant.status,
            });
            return { status: 303, body: '', headers: { location } };
          },
          { auth: false },
        ),
      );
    },

    registerAdmin(app: FastifyInstance) {
      app.post('/admin/kyc/applicants/:id/review', async (request, reply) => {
        const applicant = applicants.get(paramOf(request, 'id'));
        if (!applicant) return adminError(reply, 404, 'no such applicant');
        if (applicant.status !== 'pending')
          return adminError(reply, 409, `applicant is ${applicant.status}, not pending`);
        const body = (request.body ?? {}) as { result?: unknown; reason?: unknown };
        const now = context.clock.nowMs();
        if (body.result === 'verified') applicants.verify(applicant, 'manual', now);
        else if (body.result === 'failed' && isFailureReason(body.reason))
          applicants.fail(applicant, body.reason, 'manual', now);
        else return adminError(reply, 400, 'result must be "verified", or "failed" with a known reason');
        return serializeApplicant(applicant, url());
      });
      app.post('/admin/kyc/applicants/:id/reverification', async (request, reply) => {
        const applicant = applicants.get(paramOf(request, 'id'));
        if (!applicant) return adminError(reply, 404, 'no such applicant');
        if (!applicants.requireReverification(applicant, context.clock.nowMs())) {
          return adminError(reply, 409, `applicant is ${applicant.status}, not verified`);
        }
        return serializeApplicant(applicant, url());
      });
    },

    reset() {
      applicants.clear();
    },
  };
}
