import { createIdGenerator, systemClock } from '@rampart/core';
import { type Config, ConfigError, loadConfig, loadMasterSecret } from '@rampart/server';
import {
  type DeliveryStatus,
  presentDelivery,
  presentEndpoint,
  SecretBox,
  WebhookDeliveries,
  WebhookEndpoints,
} from '@rampart/webhooks';
import { type Command, Option } from 'commander';
import { modeOption, type OperatorOptions, operatorOption, tenantOf, withDatabase } from './database.ts';
import { collect, emit } from './output.ts';

function date(option: string, text: string): Date {
  const value = new Date(text);
  if (Number.isNaN(value.getTime())) throw new ConfigError(option, `not a date: ${JSON.stringify(text)}`);
  return value;
}

/** The same services the API uses, on the CLI's database; secrets sealed with the server's master secret. */
async function withWebhooks<T>(
  operator: OperatorOptions,
  work: (services: {
    endpoints: WebhookEndpoints;
    deliveries: WebhookDeliveries;
    config: Config;
    /** The tenant of the operator's mode the command names. */
    operatorId: string;
  }) => Promise<T>,
): Promise<T> {
  const config = loadConfig();
  const secrets = SecretBox.forWebhookSecrets(loadMasterSecret(config.secretsKey, config.dataDir));
  return withDatabase(config, async (db) => {
    const deps = { db, ids: createIdGenerator(), clock: systemClock };
    const endpoints = new WebhookEndpoints({ ...deps, secrets, config: config.webhooks });
    const operatorId = await tenantOf(db, operator);
    return work({ endpoints, deliveries: new WebhookDeliveries({ ...deps, endpoints }), config, operatorId });
  });
}

type Delivery = ReturnType<typeof presentDelivery>;
const deliveryLine = (d: Delivery) =>
  `${d.id}\t${d.status}\t${d.event_type}\t${d.subject_id}#${d.sequence}\t${d.reason}\tattempts ${d.attempt_count}` +
  (d.last_status_code !== null ? `\tlast ${d.last_status_code}` : d.last_error ? `\t${d.last_error}` : '');

/** `rampart webhooks …`: endpoints, the delivery log, redelivery, replay and test events. */
export function webhooksCommand(program: Command): void {
  const webhooks = program.command('webhooks').description('webhook endpoints and deliveries of an operator');

  webhooks
    .command('create')
    .description('register an endpoint; prints its signing secret (once)')
    .addOption(operatorOption())
    .addOption(modeOption())
    .requiredOption('--url <url>')
    .option('--event <type>', 'event type to deliver (repeatable; default all)', collect)
    .option('--description <text>')
    .option('--allow-private-url', 'allow a private or loopback URL (development)')
    .option('--json', 'print JSON')
    .action(
      async (
        options: OperatorOptions & {
          url: string;
          event?: string[];
          description?: string;
          allowPrivateUrl?: boolean;
          json?: boolean;
        },
      ) => {
        await withWebhooks(options, async ({ endpoints, operatorId }) => {
          const created = await endpoints.create(
            { operatorId: operatorId, allowPrivate: options.allowPrivateUrl ?? false },
            {
              url: options.url,
              ...(options.event ? { enabled_events: options.event } : {}),
              ...(options.description ? { description: options.description } : {}),
            },
          );
          emit(
            options.json,
            { ...presentEndpoint(created.endpoint), secret: created.secret },
            `endpoint ${created.endpoint.id} ${created.endpoint.url}\nsigning secret ${created.secret}\n(shown once)`,
          );
        });
      },
    );

  webhooks
    .command('list')
    .addOption(operatorOption())
    .addOption(modeOption())
    .option('--json', 'print JSON')
    .action(async (options: OperatorOptions & { json?: boolean }) => {
      await withWebhooks(options, async ({ endpoints, operatorId }) => {
        const list = (await endpoints.list(operatorId, { limit: 100 })).map(presentEndpoint);
        const line = (e: (typeof list)[number]) =>
          `${e.id}\t${e.status}${e.disabled_reason ? ` (${e.disabled_reason})` : ''}\t${e.url}\t${e.enabled_events.join(',')}`;
        emit(options.json, list, list.map(line).join('\n') || '(none)');
      });
    });

  webhooks
    .command('deliveries')
    .description("an endpoint's delivery log, or one delivery with its attempts (--delivery)")
    .addOption(operatorOption())
    .addOption(modeOption())
    .option('--endpoint <id>')
    .option('--delivery <id>')
    .addOption(new Option('--status <status>').choices(['pending', 'succeeded', 'exhausted', 'cancelled']))
    .option('--after <id>', 'the last delivery id of the previous page')
    .option('--json', 'print JSON')
    .action(
      async (
        options: OperatorOptions & {
          endpoint?: string;
          delivery?: string;
          status?: DeliveryStatus;
          after?: string;
          json?: boolean;
        },
      ) => {
        await withWebhooks(options, async ({ deliveries, operatorId }) => {
          if (options.delivery) {
            const one = presentDelivery(await deliveries.get(operatorId, options.delivery));
            const attempts = (one.attempts ?? []).map(
              (a) =>
                `  #${a.attempt}\t${a.started_at}\t${a.status_code ?? '-'}\t${a.latency_ms} ms\t${a.error ?? (a.response_excerpt ?? '').slice(0, 80)}`,
            );
            emit(options.json, one, [deliveryLine(one), ...attempts].join('\n'));
            return;
          }
          if (!options.endpoint) throw new ConfigError('--endpoint', 'give --endpoint or --delivery');
          const list = (
            await deliveries.listForEndpoint(operatorId, options.endpoint, {
              limit: 100,
              ...(options.status ? { status: options.status } : {}),
              ...(options.after ? { after: options.after } : {}),
            })
          ).map(presentDelivery);
          emit(options.json, list, list.map(deliveryLine).join('\n') || '(none)');
        });
      },
    );

  webhooks
    .command('redeliver')
    .description('deliver an event again (to one endpoint, or to every endpoint that subscribes to it)')
    .addOption(operatorOption())
    .addOption(modeOption())
    .requiredOption('--event <id>')
    .option('--endpoint <id>')
    .option('--json', 'print JSON')
    .action(async (options: OperatorOptions & { event: string; endpoint?: string; json?: boolean }) => {
      await withWebhooks(options, async ({ deliveries, operatorId }) => {
        const created = (await deliveries.redeliver(operatorId, options.event, options.endpoint)).map(presentDelivery);
        emit(options.json, created, created.map(deliveryLine).join('\n') || '(no endpoint subscribes to it)');
      });
    });

  webhooks
    .command('replay')
    .description('deliver again every event of [from, to) the endpoint subscribes to')
    .addOption(operatorOption())
    .addOption(modeOption())
    .requiredOption('--endpoint <id>')
    .requiredOption('--from <time>', 'ISO 8601, inclusive')
    .requiredOption('--to <time>', 'ISO 8601, exclusive')
    .option('--json', 'print JSON')
    .action(
      async (
        options: OperatorOptions & {
          endpoint: string;
          from: string;
          to: string;
          json?: boolean;
        },
      ) => {
        await withWebhooks(options, async ({ deliveries, operatorId }) => {
          const replay = await deliveries.replay(operatorId, options.endpoint, {
            from: date('--from', options.from),
            to: date('--to', options.to),
          });
          emit(options.json, replay, `${replay.deliveries} deliveries queued for ${replay.endpoint_id}`);
        });
      },
    );

  webhooks
    .command('test')
    .description('send a webhook.test event to an endpoint (a running Rampart delivers it)')
    .addOption(operatorOption())
    .addOption(modeOption())
    .requiredOption('--endpoint <id>')
    .option('--json', 'print JSON')
    .action(async (options: OperatorOptions & { endpoint: string; json?: boolean }) => {
      await withWebhooks(options, async ({ deliveries, operatorId }) => {
        const delivery = presentDelivery(await deliveries.sendTest(operatorId, options.endpoint));
        emit(
          options.json,
          delivery,
          `${deliveryLine(delivery)}\nfollow it: rampart webhooks deliveries --operator ${options.operator} --mode ${options.mode} --delivery ${delivery.id}`,
        );
      });
    });
}
