import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { commandTopic, publishTopics } from '../../device-profiles/load.js';
import { HubError } from '../../kernel/errors.js';
import type { Device } from '../../kernel/registry.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { IdParams, listOf } from '../schemas/common.js';
import { DeviceDto, DeviceFilter, MqttAccess, NewDeviceBody, PatchDeviceBody, SecretDto, toDeviceDto } from '../schemas/registry.js';

const admin = { access: ['admin'] } as const;
const tags = ['devices'];

/** Device registration and its MQTT credentials. The secret leaves the hub only in create and rotate responses. */
export const deviceRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { registry, profiles } = deps;

  const mqttAccess = (device: Device): z.infer<typeof MqttAccess> => {
    const profile = profiles.get(device.profileId)?.profile;
    if (!profile) throw new HubError('INTERNAL', `device ${device.id} has profile ${device.profileId}, which is not loaded`);
    return { username: device.id, publishTopics: publishTopics(profile, device.id), commandTopic: commandTopic(profile, device.id) };
  };

  app.post('/v1/devices', {
    config: admin,
    schema: {
      tags,
      summary: 'Register a device',
      description: 'The response carries the MQTT secret. It is shown this once; only a hash is kept. A lost secret is replaced with rotate-secret.',
      body: NewDeviceBody,
      response: { 201: z.object({ device: DeviceDto, secret: SecretDto, mqtt: MqttAccess }), ...problems(400, 401, 403, 409) },
    },
    handler: async (request, reply) => {
      const { device, secret } = await registry.createDevice(request.body);
      reply.header('cache-control', 'no-store');
      return reply.status(201).send({ device: toDeviceDto(device), secret, mqtt: mqttAccess(device) });
    },
  });

  app.get('/v1/devices', {
    config: admin,
    schema: { tags, summary: 'List devices', querystring: DeviceFilter, response: { 200: listOf(DeviceDto), ...problems(400, 401, 403) } },
    handler: async (request) => ({ items: (await registry.listDevices(request.query)).map(toDeviceDto) }),
  });

  app.get('/v1/devices/:id', {
    config: admin,
    schema: { tags, summary: 'Get a device', params: IdParams, response: { 200: DeviceDto, ...problems(400, 401, 403, 404) } },
    handler: async (request) => {
      const device = await registry.getDevice(request.params.id);
      if (!device) throw new HubError('NOT_FOUND', `no device "${request.params.id}"`);
      return toDeviceDto(device);
    },
  });

  app.patch('/v1/devices/:id', {
    config: admin,
    schema: {
      tags,
      summary: 'Activate or deactivate a device',
      params: IdParams,
      body: PatchDeviceBody,
      response: { 200: DeviceDto, ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => toDeviceDto(await registry.setDeviceActive(request.params.id, request.body.active)),
  });

  app.post('/v1/devices/:id/rotate-secret', {
    config: admin,
    schema: {
      tags,
      summary: "Replace a device's MQTT secret",
      description: 'The old secret stops working at once. The new one is shown this once.',
      params: IdParams,
      response: { 200: z.object({ deviceId: z.string(), secret: SecretDto }), ...problems(400, 401, 403, 404) },
    },
    handler: async (request, reply) => {
      const secret = await registry.rotateDeviceSecret(request.params.id);
      reply.header('cache-control', 'no-store');
      return { deviceId: request.params.id, secret };
    },
  });
};
