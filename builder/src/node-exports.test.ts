import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keepNodeExport, outerScope } from './node-exports.js';

test('outerScope reads the outermost scope of mangled names', () => {
  const cases: [string, string | undefined][] = [
    ['_ZN2v88internal4Heap7CollectEv', 'v8'],
    ['_ZNK2v85Value8IsNumberEv', 'v8'],
    ['_ZN4node11Environment4tickEv', 'node'],
    ['_ZTVN2v88internal6ThreadE', 'v8'],
    ['_ZThn16_N4node10StreamBase7DoWriteEv', 'node'],
    ['_ZTv0_n24_N2v88internal4TaskD1Ev', 'v8'],
    ['_ZGVZN2v88internal5Flags4InitEvE4once', 'v8'],
    ['_ZZN6icu_786Locale7getRootEvE4root', 'icu_78'],
    ['_ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEE9_M_createERmm', 'std'],
    ['_ZNKSt5ctypeIcE8do_widenEc', 'std'],
    ['_ZSt4cout', 'std'],
    ['_ZTVSt9basic_iosIcSt11char_traitsIcEE', 'std'],
    ['_ZTCNSt7__cxx1118basic_stringstreamIcSt11char_traitsIcESaIcEEE0_So', 'std'],
    ['_ZTVN10__cxxabiv117__class_type_infoE', '__cxxabiv1'],
    ['_ZN9__gnu_cxx27__verbose_terminate_handlerEv', '__gnu_cxx'],
    ['_Znwm', undefined],
    ['_ZdlPvm', undefined],
    ['_ZTIi', undefined],
    ['_Z3foov', 'foo'],
  ];
  for (const [name, scope] of cases) assert.equal(outerScope(name), scope, name);
});

test("keepNodeExport keeps C names and the C++ runtime, drops the C++ of Node's own code", () => {
  for (const n of ['napi_create_object', 'node_api_get_module_file_name', 'uv_loop_init', 'SSL_CTX_new', 'malloc', 'stdout'])
    assert.ok(keepNodeExport(n), n);
  for (const n of [
    '_ZSt4cerr',
    '_ZNSt15basic_streambufIcSt11char_traitsIcEE5uflowEv',
    '_ZTVN10__cxxabiv120__si_class_type_infoE',
    '_ZdlPv',
  ])
    assert.ok(keepNodeExport(n), n);
  for (const n of [
    '_ZN2v87Isolate3NewERKNS0_12CreateParamsE',
    '_ZN4node9AtExitEPNS_11EnvironmentEPFvPvES3_',
    '_ZN6icu_787UnicodeSetC1Ev',
    '_ZN7cppgc8internal13FreeListEntryE',
  ])
    assert.ok(!keepNodeExport(n), n);
});
