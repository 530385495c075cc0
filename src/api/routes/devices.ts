import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { requestApp, targetUserId } from '../plugins/auth.ts';
import { DeviceBody, DeviceList, DeviceParams, DeviceView, errors } from '../schemas.ts';
import { deviceView } from '../views.ts';
import { SCOPES, callerEmail, jsonOnly, type RouteDeps } from './scopes.ts';

/** Devices (docs/api.md § Devices), for admins under /v1/users/{userId} and for users under /v1/me. */
export const deviceRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { services }) => {
  jsonOnly(app);
  for (const scope of SCOPES) {
    const tags = ['devices', scope.tag];
    const config = { auth: scope.auth };

    app.post(`${scope.prefix}/devices`, {
      config,
      schema: {
        tags,
        summary: 'Register a device (the same token again answers the existing device; another user’s moves here with an API key, else 409 DEVICE_TAKEN)',
        params: scope.params(),
        body: DeviceBody,
        response: { 200: DeviceView, 201: DeviceView, ...errors(400, 401, 403, 409, 413, 415, 422) },
      },
    }, async (request, reply) => {
      const body = request.body;
      const input = { ...body, appId: requestApp(request, body.appId) };
      const trusted = request.caller?.kind === 'admin';
      const { device, created } = await services.devices.register(targetUserId(request), input, { email: callerEmail(request), trusted });
      return reply.status(created ? 201 : 200).send(deviceView(device));
    });

    app.get(`${scope.prefix}/devices`, {
      config,
      schema: { tags, summary: 'List the user’s devices', params: scope.params(), response: { 200: DeviceList, ...errors(400, 401, 403) } },
    }, async (request) => ({ items: (await services.devices.list(targetUserId(request))).map(deviceView) }));

    app.delete(`${scope.prefix}/devices/:deviceId`, {
      config,
      schema: { tags, summary: 'Remove a device', params: scope.params(DeviceParams.properties), response: { 204: { type: 'null', description: 'removed' }, ...errors(400, 401, 403, 404) } },
    }, async (request, reply) => {
      await services.devices.remove(targetUserId(request), request.params.deviceId);
      return reply.status(204).send(null);
    });
  }
};
