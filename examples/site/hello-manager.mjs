// A custom hardware manager: adds a clean step "hello_world" that records
// when it ran. Methods are named like IPA's, so a step name is a method name.
export default class HelloManager {
  name = 'hello_manager';
  version = '1.0';
  evaluate_hardware_support() {
    return 3;
  } // SERVICE_PROVIDER
  get_clean_steps() {
    return [{ step: 'hello_world', priority: 0, interface: 'deploy', reboot_requested: false, abortable: true }];
  }
  async hello_world(node, ports, args) {
    return { hello: node?.uuid ?? null, at: new Date().toISOString(), args };
  }
}
