import effectPlugin from "@effect/eslint-plugin"
import js from "@eslint/js"
import tseslint from "typescript-eslint"

export default tseslint.config(
  { ignores: ["**/build/**", "**/dist/**", "**/node_modules/**", "**/*.d.ts", "**/scratch/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    plugins: { "@effect": effectPlugin },
    rules: {
      "@effect/dprint": ["error", {
        config: {
          indentWidth: 2,
          lineWidth: 120,
          semiColons: "asi",
          quoteStyle: "alwaysDouble",
          trailingCommas: "never",
          operatorPosition: "maintain",
          "arrowFunction.useParentheses": "force"
        }
      }],
      "@effect/no-import-from-barrel-package": ["error", { packageNames: ["effect", "@effect/platform"] }],
      "no-restricted-syntax": ["error", {
        selector: "CallExpression[callee.property.name='push'] > SpreadElement.arguments",
        message: "Do not use spread arguments in Array.push"
      }],
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-namespace": "off",
      "@typescript-eslint/no-empty-object-type": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "warn",
      "no-constant-condition": "off",
      // TypeScript checks names; this rule does not know the runtimes' globals
      "no-undef": "off"
    }
  },
  {
    // node's private fields are read in one fenced place only: nodeInternals.ts, where each is a
    // feature detected on a probe (with its fallback) and test/NodeInternals.test.ts names it
    files: ["packages/node/src/**/*.ts"],
    ignores: ["packages/node/src/internal/nodeInternals.ts"],
    rules: {
      "no-restricted-syntax": ["error", {
        selector: "CallExpression[callee.property.name='push'] > SpreadElement.arguments",
        message: "Do not use spread arguments in Array.push"
      }, {
        selector: "MemberExpression[property.name=/^_(?!tag$)/]",
        message: "node's private fields are read in nodeInternals.ts only (a detected feature with a fallback)"
      }, {
        selector: "MemberExpression[computed=true][property.value=/^_/]",
        message: "node's private fields are read in nodeInternals.ts only (a detected feature with a fallback)"
      }, {
        selector: "MemberExpression[property.name='servername']:not([object.name='options'])",
        message: "a TLSSocket's private `servername` is read through nodeInternals.serverName only"
      }, {
        selector: "CallExpression[callee.object.name='Symbol'][callee.property.name='for']",
        message: "no hidden symbols between modules: hand things over explicitly (e.g. NodeTransport.takeSocket)"
      }, {
        selector: "CallExpression[callee.property.name='getOwnPropertySymbols']",
        message: "no hidden symbols between modules: hand things over explicitly (e.g. NodeTransport.takeSocket)"
      }]
    }
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    rules: { "no-undef": "off" }
  },
  {
    files: ["packages/*/test/**/*.ts", "examples/**/*.ts", "bench/**/*.ts", "scripts/consumer/**/*.ts", "*.ts"],
    rules: {
      "@effect/no-import-from-barrel-package": "off"
    }
  }
)
