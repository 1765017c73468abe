// calc_js.js - the JavaScript guest of calc_js.wit, made into a component
// by componentize-js at test time (tests/components/build.sh).
export function add(a, b) {
  return (a + b) | 0;
}

export function greet(name) {
  return `Hello, ${name}`;
}

export function log(msg) {
  console.log(msg);
}
