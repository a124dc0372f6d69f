import type { Json } from './template.ts';

/**
 * Could this role give a role permissions without the boundary? A static reading of its policies,
 * for the delivery stack's deploy role (docs/adr/0152-permissions-boundary-on-application-roles.md).
 *
 * An action that gives a role permissions (create it, put or attach a policy, set or remove its
 * boundary) must be allowed only by statements whose condition is StringEquals
 * iam:PermissionsBoundary = the boundary; the managed policies attached must be ones whose IAM
 * grants are known here (PowerUserAccess allows everything BUT iam:*, plus service-linked roles);
 * removing a boundary and changing the boundary policy must be explicitly denied; and an explicit
 * deny must refuse every such action without the boundary, whatever is allowed later.
 * Returns what is wrong, in words; [] when the role is bounded.
 */

/** Actions that give a role permissions or change its boundary. */
export const ROLE_PERMISSION_ACTIONS = [
  'iam:CreateRole',
  'iam:PutRolePolicy',
  'iam:AttachRolePolicy',
  'iam:PutRolePermissionsBoundary',
] as const;

/**
 * What the AWS managed policies the deploy role may carry allow of IAM (from their documents):
 * PowerUserAccess is `Allow NotAction [iam:*, organizations:*, account:*]` plus a few IAM reads
 * and service-linked roles, none of which gives a role permissions.
 */
export const KNOWN_MANAGED_POLICIES: Record<string, { iamActions: string[] }> = {
  PowerUserAccess: {
    iamActions: [
      'iam:CreateServiceLinkedRole',
      'iam:DeleteServiceLinkedRole',
      'iam:GetServiceLinkedRoleDeletionStatus',
      'iam:ListRoles',
    ],
  },
};

interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: Json;
  Condition?: Json;
}

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** IAM action patterns: `*` any run, `?` one character, case-insensitive. */
export function actionMatches(pattern: string, action: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('')}$`,
    'i',
  );
  return re.test(action);
}

function covers(s: Statement, action: string): boolean {
  if (s.Action !== undefined) return list(s.Action).some((p) => actionMatches(p, action));
  if (s.NotAction !== undefined) return !list(s.NotAction).some((p) => actionMatches(p, action));
  return false;
}

function boundaryCondition(s: Statement, operator: 'StringEquals' | 'StringNotEquals'): Json {
  return s.Condition?.[operator]?.['iam:PermissionsBoundary'];
}

const same = (a: Json, b: Json) => JSON.stringify(a) === JSON.stringify(b);

export function unboundedRoleGrants(role: { Properties: Json }, boundary: Json): string[] {
  const problems: string[] = [];
  const statements: Statement[] = list(role.Properties.Policies as Json[]).flatMap((p: Json) =>
    list(p.PolicyDocument?.Statement as Statement[]),
  );
  for (const arn of list(role.Properties.ManagedPolicyArns as Json[])) {
    const name = /policy\/(?:service-role\/)?([^/]+)$/.exec(JSON.stringify(arn).replace(/"\W*$/, ''))?.[1];
    const known = name === undefined ? undefined : KNOWN_MANAGED_POLICIES[name];
    if (!known) {
      problems.push(`managed policy ${JSON.stringify(arn)} is not one whose IAM grants this test knows`);
      continue;
    }
    for (const a of ROLE_PERMISSION_ACTIONS)
      if (known.iamActions.some((p) => actionMatches(p, a)))
        problems.push(`managed policy ${name} allows ${a}`);
  }
  const allows = statements.filter((s) => s.Effect === 'Allow');
  const denies = statements.filter((s) => s.Effect === 'Deny');
  for (const action of ROLE_PERMISSION_ACTIONS) {
    for (const s of allows.filter((st) => covers(st, action)))
      if (!same(boundaryCondition(s, 'StringEquals'), boundary))
        problems.push(`${s.Sid ?? 'a statement'} allows ${action} without requiring the boundary`);
    const denied = denies.some(
      (s) =>
        covers(s, action) && same(s.Resource, '*') && same(boundaryCondition(s, 'StringNotEquals'), boundary),
    );
    if (!denied) problems.push(`no explicit deny of ${action} without the boundary`);
  }
  if (allows.some((s) => covers(s, 'iam:DeleteRolePermissionsBoundary')))
    problems.push('iam:DeleteRolePermissionsBoundary is allowed');
  if (
    !denies.some(
      (s) => covers(s, 'iam:DeleteRolePermissionsBoundary') && same(s.Resource, '*') && !s.Condition,
    )
  )
    problems.push('no unconditional deny of iam:DeleteRolePermissionsBoundary');
  for (const action of ['iam:CreatePolicyVersion', 'iam:SetDefaultPolicyVersion', 'iam:DeletePolicy']) {
    if (!denies.some((s) => covers(s, action) && (same(s.Resource, boundary) || same(s.Resource, '*'))))
      problems.push(`no deny of ${action} on the boundary policy`);
  }
  return problems;
}
