console.log("cli main", process.version, process.argv.slice(2).join(" "))
