fn main() -> std::process::ExitCode {
    casebridge_gen::main()
}
