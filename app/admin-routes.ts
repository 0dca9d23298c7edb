/**
 * The administration routes (role admin), the contract in docs/operations.md ("Administration over
 * HTTP"): each route is parse, one AdminOperations call, answer. `hgd admin …` calls these while a
 * gateway runs, so administration works on the single-process embedded database too.
 */
import { Router } from 'express';
import { allow, identityOf } from '../storage-layer/http-identity';
import type { AdminOperations } from './admin-operations';

export function adminRouter(ops: AdminOperations): Router {
  const router = Router();
  router.use('/admin', allow('admin'));

  router.get('/admin/organisations', async (_req, res) => {
    res.json(await ops.listOrganisations());
  });
  router.post('/admin/organisations', async (req, res) => {
    res.status(201).json(await ops.createOrganisation(identityOf(res), req.body));
  });

  router.get('/admin/users', async (_req, res) => {
    res.json(await ops.listUsers());
  });
  router.post('/admin/users', async (req, res) => {
    res.status(201).json(await ops.createUser(identityOf(res), req.body));
  });

  router.get('/admin/api-keys', async (req, res) => {
    res.json(await ops.listApiKeys(req.query.org));
  });
  router.post('/admin/api-keys', async (req, res) => {
    res.status(201).json(await ops.createApiKey(identityOf(res), req.body));
  });
  router.delete('/admin/api-keys/:keyId', async (req, res) => {
    await ops.revokeApiKey(identityOf(res), String(req.params.keyId));
    res.status(204).end();
  });

  router.get('/admin/studies', async (_req, res) => {
    res.json(await ops.listStudies());
  });
  router.post('/admin/studies', async (req, res) => {
    res.status(201).json(await ops.createStudy(identityOf(res), req.body));
  });
  router.post('/admin/studies/:id/researchers', async (req, res) => {
    res.status(201).json(await ops.addResearcher(identityOf(res), String(req.params.id), req.body));
  });
  router.delete('/admin/studies/:id/researchers/:researcher', async (req, res) => {
    res.json(await ops.removeResearcher(identityOf(res), String(req.params.id), String(req.params.researcher)));
  });
  return router;
}
