// The package has no "exports" map; its ESM build lives at this sub-path.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
