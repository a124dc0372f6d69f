// osls plugin: keeps the deployed state machine definitions identical to state-machines/*.asl.json.
// serverless-step-functions validates with asl-validator, which MUTATES the definition and adds
// `"QueryLanguage": "JSONPath"` to every state. That is the default anyway (semantically a no-op),
// but it makes the deployed JSON differ from the file the local runner executes, and cfn-lint's
// ASL schema rejects it on some state types. This removes exactly those injected defaults.
// CommonJS because osls loads plugins with require().
'use strict';

function stripDefaultQueryLanguage(node, machineDefault) {
  if (Array.isArray(node)) return node.forEach((n) => stripDefaultQueryLanguage(n, machineDefault));
  if (!node || typeof node !== 'object') return;
  if (node.States && typeof node.States === 'object') {
    for (const state of Object.values(node.States)) {
      if (state && state.QueryLanguage === 'JSONPath' && machineDefault === 'JSONPath')
        delete state.QueryLanguage;
    }
  }
  for (const value of Object.values(node)) stripDefaultQueryLanguage(value, machineDefault);
}

class AslAsWritten {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = { 'before:package:finalize': () => this.restore() };
  }

  restore() {
    const resources = this.serverless.service.provider.compiledCloudFormationTemplate.Resources;
    for (const resource of Object.values(resources)) {
      if (resource.Type !== 'AWS::StepFunctions::StateMachine') continue;
      const definition = resource.Properties.DefinitionString;
      if (typeof definition !== 'string') continue; // Fn::Sub forms are left alone
      const parsed = JSON.parse(definition);
      stripDefaultQueryLanguage(parsed, parsed.QueryLanguage ?? 'JSONPath');
      resource.Properties.DefinitionString = JSON.stringify(parsed, null, 2);
    }
  }
}

module.exports = AslAsWritten;
